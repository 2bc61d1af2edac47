"""The request headers of one call through Cloudflare AI Gateway (docs/design.md section 10):
what it is filed under in the gateway's logs (`cf-aig-metadata`), its cache and its logging.

Sources (developers.cloudflare.com): ai-gateway/observability/custom-metadata/ (at most five
entries; strings, numbers, booleans), ai-gateway/features/caching/ (cf-aig-cache-ttl,
cf-aig-skip-cache), ai-gateway/observability/logging/ (cf-aig-collect-log) and the changelog
of 2026-03-17 (cf-aig-collect-log-payload: false logs metadata, not bodies).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any, Literal

from ..core.constants import GATEWAY_METADATA_ENTRIES
from ..core.errors import ConfigurationError

CallKind = Literal["cell", "tool_round", "agent", "map", "batch"]
METADATA_VALUE_CHARS = 100  # a name, not a document: longer values are cut
LOG_MODES = ("on", "off", "metadata")
# cf-aig-cache-ttl is in seconds, "minimum 60 seconds and maximum one month" (caching page).
CACHE_TTL_RANGE_S = (60, 30 * 24 * 3600)


def metadata(
    *,
    kind: CallKind,
    notebook: str | None = None,
    cell: int | None = None,
    conversation: str | None = None,
    tag: str | None = None,
) -> dict[str, str | int]:
    """At most five flat entries a user filters the gateway's logs by; names and numbers
    only, never a prompt, an answer or a credential."""
    entries: dict[str, str | int | None] = {
        "notebook": notebook,
        "cell": cell,
        "conversation": conversation,
        "kind": kind,
        "tag": tag,
    }
    flat = {
        key: value if isinstance(value, int) else str(value)[:METADATA_VALUE_CHARS]
        for key, value in entries.items()
        if value is not None and value != ""
    }
    return dict(list(flat.items())[:GATEWAY_METADATA_ENTRIES])


def headers(
    settings: Mapping[str, Any] | Any,
    *,
    kind: CallKind,
    notebook: str | None = None,
    cell: int | None = None,
    conversation: str | None = None,
) -> dict[str, str]:
    """The cf-aig-* headers of one call for these settings (`gateway_*`); the client sends
    them only when its endpoint is an AI Gateway."""
    found = {
        "cf-aig-metadata": json.dumps(
            metadata(
                kind=kind,
                notebook=notebook,
                cell=cell,
                conversation=conversation,
                tag=settings["gateway_tag"] or None,
            ),
            separators=(",", ":"),
        )
    }
    ttl = settings["gateway_cache_ttl"]
    if ttl:
        low, high = CACHE_TTL_RANGE_S
        if not low <= int(ttl) <= high:
            raise ConfigurationError(
                f"gateway_cache_ttl is in seconds, from {low} to {high:,} (one month), as AI "
                f"Gateway takes it; {ttl} is outside that. Set it in range, or unset it."
            )
        found["cf-aig-cache-ttl"] = str(int(ttl))
    if settings["gateway_cache"] is False:
        found["cf-aig-skip-cache"] = "true"
    log = str(settings["gateway_log"] or "").strip().lower()
    if log and log not in LOG_MODES:
        raise ConfigurationError(
            f"gateway_log must be 'on', 'off' or 'metadata' (usage without prompts), not {log!r}."
        )
    if log == "off":
        found["cf-aig-collect-log"] = "false"
    elif log in ("on", "metadata"):
        found["cf-aig-collect-log"] = "true"
        found["cf-aig-collect-log-payload"] = "true" if log == "on" else "false"
    return found


def notebook_of(namespace: Mapping[str, Any]) -> tuple[str | None, int | None]:
    """The notebook's file name and the running cell's execution count, where the kernel
    says them: VS Code's `__vsc_ipynb_file__`, ipykernel's `__session__` or jupyter-server's
    JPY_SESSION_NAME; IPython's input history `_ih` holds this cell's input as its last."""
    path = (
        namespace.get("__vsc_ipynb_file__")
        or namespace.get("__session__")
        or os.environ.get("JPY_SESSION_NAME")
    )
    name = os.path.basename(str(path)) if isinstance(path, str) and path else None
    history = namespace.get("_ih")
    cell = len(history) - 1 if isinstance(history, list) and len(history) > 1 else None
    return name, cell
