"""The magic's flags, made from the parameter table, and the settings one call's flags set."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from IPython.core.magic_arguments import argument

from ..core.parameters import PARAMETERS, Parameter

# Flags spelled differently from `--<name>`: extra or shorter spellings users already know.
_SPELLINGS: dict[str, tuple[str, ...]] = {
    "temperature": ("-t", "--temperature"),
    "reasoning_effort": ("--effort", "--reasoning-effort"),
    "n": ("-n", "--n"),
}


def _no_constant(name: str) -> Any:
    raise argparse.ArgumentTypeError(
        f"{name} is not a JSON value (JSON has no NaN or Infinity); use a number or null"
    )


class _AsTyped(float):
    """A number from a flag that shows as typed in messages: `-t 7` is "not 7", not "7.0"."""

    typed: str

    def __new__(cls, text: str) -> _AsTyped:
        number = super().__new__(cls, text)
        number.typed = text.strip()
        return number

    def __repr__(self) -> str:
        return self.typed


def _json_value(text: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not JSON, e.g. '{{\"50256\": -100}}'"
        ) from None


def _word_list(text: str) -> list[str]:
    return [word.strip() for word in text.split(",") if word.strip()]


def _argument_for(p: Parameter) -> Callable[[Any], Any]:
    flags = _SPELLINGS.get(p.name, (p.flag,))
    text = f"{p.help.rstrip('.')} ({p.range_text})."
    if p.kind == "boolean":
        return argument(
            *flags, dest=p.name, action=argparse.BooleanOptionalAction, default=None, help=p.help
        )
    if p.name == "reasoning_effort":
        return argument(
            *flags,
            dest=p.name,
            choices=[*p.choices, "off"],
            metavar="LEVEL",
            help=f"{p.help.rstrip('.')}: low, medium or high; 'off' turns thinking off.",
        )
    if p.kind == "choice":
        return argument(*flags, dest=p.name, choices=list(p.choices), metavar="TIER", help=text)
    if p.kind == "stop":
        return argument(
            *flags,
            dest=p.name,
            action="append",
            metavar="TEXT",
            help=p.help + " Repeat the flag for several.",
        )
    converter = {
        "number": _AsTyped,
        "integer": int,
        "object": _json_value,
        "modalities": _word_list,
    }.get(p.kind, str)
    metavar = {"number": "X", "integer": "N", "object": "JSON", "modalities": "LIST"}.get(
        p.kind, "TEXT"
    )
    return argument(*flags, dest=p.name, type=converter, metavar=metavar, help=text)


def parameter_arguments(function: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a magic with one flag per request parameter (they document themselves in %kimi?)."""
    for parameter in reversed(list(PARAMETERS.values())):
        function = _argument_for(parameter)(function)
    return function


def flag_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings this call's flags set; None means "not given", so lower layers apply."""
    given = {name: getattr(args, name, None) for name in PARAMETERS}
    if given.get("reasoning_effort") == "off":
        given["reasoning_effort"] = None
        given["thinking"] = False
    for name in ("model", "system", "cache", "approve", "approve_timeout", "tool_max_rounds"):
        given[name] = getattr(args, name, None)
    if getattr(args, "no_gateway_cache", False):
        given["gateway_cache"] = False
    return {name: value for name, value in given.items() if value is not None}
