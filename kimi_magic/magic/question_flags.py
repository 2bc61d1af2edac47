"""The flags of a `%kimi` / `%%kimi` question (the request parameters, tools and map flags
come from their own modules); they document themselves in %kimi?."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument

from .flags import parameter_arguments
from .map_flags import map_arguments
from .tool_flags import tool_arguments


def question_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate the magic with every question flag, in the order %kimi? lists them."""
    return _decorated(function)


def _decorated(function: Callable[..., Any]) -> Callable[..., Any]:
    decorators: list[Callable[[Callable[..., Any]], Callable[..., Any]]] = [
        argument("--new", action="store_true", help="Start a fresh conversation for this call."),
        argument("--chat", metavar="NAME", help="Use the named conversation (default: 'default')."),
        argument("--system", metavar="TEXT", help="System prompt for this call."),
        argument("--model", metavar="ID", help="Model id for this call."),
        argument(
            "--cache",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Answer an identical earlier request from the local response cache.",
        ),
        argument(
            "--refresh",
            action="store_true",
            help="With the cache on: ask the server anyway and store the new answer.",
        ),
        argument(
            "--no-gateway-cache",
            action="store_true",
            help="Through an AI Gateway: skip its cache for this call (cf-aig-skip-cache).",
        ),
        parameter_arguments,
        tool_arguments,
        map_arguments,
        argument(
            "-v",
            "--var",
            action="append",
            metavar="NAME",
            help="Attach a variable as context (repeatable).",
        ),
        argument(
            "--image",
            action="append",
            metavar="WHICH",
            help="Attach an image: 'last', a cell number, or a Figure / PIL image / array / "
            "bytes / path / data URL by name (repeatable).",
        ),
        argument(
            "--no-interpolate",
            action="store_true",
            help="Send {braces} as typed: no {name} references.",
        ),
        argument(
            "-o",
            "--output",
            metavar="NAME",
            help="Store the answer in NAME (the parsed object with --json / --schema).",
        ),
        argument(
            "-f",
            "--format",
            choices=["code"],
            help="'code': put the answer's code into a new cell below.",
        ),
        argument("--json", action="store_true", help="Ask for a JSON object and parse it."),
        argument(
            "--schema",
            metavar="NAME",
            help="Ask for JSON matching NAME: a JSON Schema dict or a pydantic model class.",
        ),
        argument(
            "--bg",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="Return at once; the answer streams into this cell while you run others "
            "(%%kimi wait blocks until it is done).",
        ),
        argument(
            "--dry-run",
            action="store_true",
            help="Show what would be sent, and the estimated tokens and cost; send nothing.",
        ),
    ]
    for decorate in reversed(decorators):
        function = decorate(function)
    return function
