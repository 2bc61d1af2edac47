"""`%kimi config`: each effective setting, where it came from, and the endpoint (token redacted)."""

from __future__ import annotations

import html
import os
from typing import Any

from ..core.constants import ENV_API_TOKEN, ENV_OPENAI_API_KEY
from ..core.errors import ConfigurationError
from ..core.parameters import PARAMETERS
from ..core.settings import Resolved
from ..render.frontend import show_markdown

ORDER_NOTE = (
    "Order: flag > panel / %config > [tool.kimi_magic] in pyproject.toml or "
    "~/.config/kimi_magic/config.toml > environment (KIMI_MAGIC_*) > default. A project "
    "file's settings that run code, start servers, send more data, write outside its folder "
    "or move requests apply only once it is trusted (%kimi trust)."
)


def _shown(name: str, value: Any) -> str:
    if value is None:
        return "*(not sent: the model's default)*" if name in PARAMETERS else "*(none)*"
    text = repr(value) if not isinstance(value, str) else (value or "''")
    if len(text) > 80:
        text = text[:77] + "…"
    # A code span shows entities literally; in a table cell only `|` needs escaping (GFM).
    cell = text.replace("`", "'").replace("|", "\\|")
    return f"`{cell}`"


def _token_source() -> str:
    for name in (*ENV_API_TOKEN, ENV_OPENAI_API_KEY):
        if os.environ.get(name):
            return f"set ([redacted]), from ${name}"
    return "not set"


def config_markdown(resolved: Resolved, endpoint_line: str) -> str:
    """The `%kimi config` table: each setting, its value and its source."""
    rows = ["| setting | value | from |", "|---|---|---|"]
    for name, setting in resolved.settings.items():
        rows.append(f"| {name} | {_shown(name, setting.value)} | {html.escape(setting.source)} |")
    notes = "".join(f"\n\n⚠ {html.escape(note)}" for note in resolved.notes)
    return (
        "**kimi_magic settings**\n\n" + "\n".join(rows) + f"\n\n{endpoint_line}\n\n"
        f"<small>{ORDER_NOTE}</small>{ignored_markdown(resolved)}{notes}\n"
    )


def ignored_markdown(resolved: Resolved) -> str:
    """The project-file settings that did not apply, and why (empty when none were ignored)."""
    if not resolved.ignored:
        return ""
    rows = ["| setting | value | from | why ignored |", "|---|---|---|---|"]
    for name, item in resolved.ignored.items():
        why = f"untrusted project file; run %kimi trust: it {item.reason}"
        rows.append(
            f"| {name} | {_shown(name, item.value)} | {html.escape(item.where)} | "
            f"{html.escape(why, quote=False)} |"
        )
    return "\n\n**Ignored settings**\n\n" + "\n".join(rows)


def config_command(host: Any, rest: str) -> None:
    session = host.session
    resolved = session.settings()
    try:
        endpoint = session.client(resolved).endpoint
        line = f"Endpoint: `{endpoint.shown_url}` ({endpoint.kind}); API token: {_token_source()}."
    except ConfigurationError as error:
        line = f"Endpoint: not configured. {error}"
    text = config_markdown(resolved, line)
    show_markdown(text, plain=text.replace("<small>", "").replace("</small>", ""))
