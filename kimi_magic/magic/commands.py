"""The `%kimi <command>` words, in one explicit table: name -> (function, help line).

Each command takes the host (the magic: `.session`, `.shell`, `.context`, `.parse()`,
`.ask()`) and the rest of the line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

from ..render.frontend import show_markdown
from .config_view import config_command
from .explain import explain_command, fix_command
from .history import (
    edit_command,
    export_command,
    forget_command,
    history_command,
    load_command,
    pin_command,
    reset_command,
    save_command,
)
from .map_command import record_command, replay_command
from .mcp_command import mcp_command
from .panel import panel_command
from .trust_command import trust_command, untrust_command
from .usage import usage_markdown


class Command(NamedTuple):
    run: Callable[[Any, str], Any]
    help: str


def _usage(host: Any, rest: str) -> None:
    show_markdown(*usage_markdown(host.session))


def _wait(host: Any, rest: str) -> None:
    running = host.background_running
    host.wait_for_background()
    if running:
        show_markdown(f"{running} background answer(s) finished; their `-o` variables are set.")
    else:
        show_markdown("No background answer was running: nothing to wait for.")


def _help(host: Any, rest: str) -> None:
    lines = [f"- `%kimi {name}`: {command.help}" for name, command in sorted(COMMANDS.items())]
    text = (
        "**%kimi commands**\n\n"
        + "\n".join(lines)
        + "\n\nAnything else after `%kimi` is a question. Flags: `%kimi?`."
    )
    show_markdown(text, plain=text.replace("**", "").replace("`", ""))


COMMANDS: dict[str, Command] = {
    "config": Command(
        config_command, "each effective setting and where it came from (the token redacted)"
    ),
    "edit": Command(
        edit_command,
        "replace turn N's answer (`--question`: its question), marked as edited "
        "(`%kimi edit N TEXT`)",
    ),
    "export": Command(
        export_command, "write a conversation as Markdown or a notebook (`%kimi export FILE.md`)"
    ),
    "explain": Command(
        explain_command,
        "explain the last error: its cell, traceback and values (`%kimi explain N` or NAME)",
    ),
    "fix": Command(
        fix_command, "explain the last error and put corrected code in a new cell (`%kimi fix N`)"
    ),
    "forget": Command(
        forget_command, "stop sending turns N (or N-M), kept in history (`%kimi forget N`)"
    ),
    "help": Command(_help, "list the %kimi commands"),
    "history": Command(
        history_command,
        "show a conversation's numbered turns with their usage (`%kimi history NAME`)",
    ),
    "load": Command(load_command, "load conversations saved with %kimi save (`%kimi load FILE`)"),
    "mcp": Command(
        mcp_command, "MCP servers and their tools (`%kimi mcp add NAME -- COMMAND ARGS`)"
    ),
    "panel": Command(
        panel_command, "open the settings panel (`%kimi panel inline` to show it in the notebook)"
    ),
    "pin": Command(pin_command, "keep turn N when old turns are trimmed (`%kimi pin N`)"),
    "record": Command(
        record_command, "keep every whole answer in a file for replay (`%kimi record FILE`, `off`)"
    ),
    "replay": Command(
        replay_command, "answer from a recorded file, no network (`%kimi replay FILE`, `off`)"
    ),
    "reset": Command(
        reset_command,
        "forget a conversation (`%kimi reset NAME`; `%kimi reset --all` for every one)",
    ),
    "save": Command(
        save_command, "save conversations to JSON, images included (`%kimi save FILE [NAME]`)"
    ),
    "trust": Command(
        trust_command,
        "let the nearest pyproject.toml switch on code, tools and servers, as it is now "
        "(`%kimi trust --revoke` takes it back)",
    ),
    "untrust": Command(untrust_command, "take back the trust in the nearest pyproject.toml"),
    "usage": Command(
        _usage, "calls, tokens in / cached / out and cost, per conversation and in total"
    ),
    "wait": Command(_wait, "wait until the background answers (`--bg`) have finished"),
}
