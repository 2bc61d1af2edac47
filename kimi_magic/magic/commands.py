"""The `%kimi <command>` words (reset, ...): a registry each feature module adds to."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .magics import KimiMagics

Command = Callable[["KimiMagics", str], Any]
COMMANDS: dict[str, Command] = {}
HELP: dict[str, str] = {}


def command(name: str, help: str) -> Callable[[Command], Command]:
    """Register `%kimi NAME rest-of-line`; the function gets the magics object and the rest."""

    def register(function: Command) -> Command:
        COMMANDS[name] = function
        HELP[name] = help
        return function

    return register


def show_markdown(text: str, plain: str | None = None) -> None:
    """Display markdown, with the same text (or `plain`) as text/plain so a terminal shows it."""
    from IPython.display import display

    display({"text/markdown": text, "text/plain": text if plain is None else plain}, raw=True)


@command("help", "list the %kimi commands")
def _help(magics: KimiMagics, rest: str) -> None:
    from IPython.display import Markdown, display

    lines = [f"- `%kimi {name}`: {text}" for name, text in sorted(HELP.items())]
    display(
        Markdown(
            "**%kimi commands**\n\n"
            + "\n".join(lines)
            + "\n\nAnything else after `%kimi` is a question. Flags: `%kimi?`."
        )
    )
