"""`%%kimi --map NAME [-o OUT]`, and `%kimi record FILE` / `%kimi replay FILE` / `... off`."""

from __future__ import annotations

import argparse
from typing import Any

from ..core.errors import ConfigurationError
from ..render.frontend import show_markdown
from .flags import flag_settings


def run_map(host: Any, template: str, args: argparse.Namespace) -> Any:
    """Map the cell over `args.map`; the results go to `-o OUT` (or are the cell's value)."""
    from ..prompt.structured import spec_from
    from ..scale.run import map_cell

    namespace = host.shell.user_ns if host.shell is not None else {}
    keywords: dict[str, Any] = dict(flag_settings(args))
    if args.schema or args.json:
        output = spec_from(bool(args.json), args.schema, namespace)
        keywords["schema"] = output.model or output.schema if output else None
    for name in ("concurrency", "batch"):
        if getattr(args, name) is not None:
            keywords[name] = getattr(args, name)
    if args.dry_run:
        keywords["dry_run"] = True
    result = map_cell(namespace, args.map, template, session=host.session, **keywords)
    if args.output and not args.dry_run:
        namespace[args.output] = result
        return None
    return result


def record_command(host: Any, rest: str) -> None:
    """`%kimi record FILE`: keep every whole answer in FILE (`off` stops)."""
    _switch(host, "record", rest)


def replay_command(host: Any, rest: str) -> None:
    """`%kimi replay FILE`: answer from FILE at a steady pace, with no network (`off` stops)."""
    _switch(host, "replay", rest)


def _switch(host: Any, setting: str, rest: str) -> None:
    path = rest.strip()
    if not path:
        raise ConfigurationError(
            f"Name the file: %kimi {setting} answers.jsonl (or %kimi {setting} off)."
        )
    value = None if path == "off" else path
    other = "replay" if setting == "record" else "record"
    host.session.configure(**{setting: value, **({other: None} if value else {})})
    if value is None:
        show_markdown(f"{setting.capitalize()} is off.")
    elif setting == "record":
        show_markdown(f"Recording every whole answer to `{path}` (no token, stable lines).")
    else:
        show_markdown(f"Answering from `{path}` at a steady pace; nothing goes to a server.")
