"""Every request parameter of the model page, with its type and documented range, in one table.

The ranges are read off Cloudflare's model JSON (`schema.input`, workers-ai/kimi-k2.6.json;
`service_tier` from the launch version); tests/test_parameters.py checks the table against it.
`validate` refuses a value outside its range before anything is sent.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .constants import CONTEXT_WINDOW_TOKENS
from .errors import ConfigurationError

# number, integer, boolean, string, choice (a string from `choices`), object, modalities, stop
Kind = str


@dataclass(frozen=True)
class Parameter:
    """One request parameter: how it is typed, its documented range, and the server default."""

    name: str
    kind: Kind
    help: str
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    server_default: Any = None  # what the model uses when the parameter is not sent
    described: str = ""  # the range in words, where min/max/choices do not say it

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def range_text(self) -> str:
        """`a number from 0 to 2`, `one of low, medium, high`, ... (used in errors and help)."""
        if self.described:
            return self.described
        if self.choices:
            return "one of " + ", ".join(self.choices)
        noun = {"number": "a number", "integer": "a whole number"}.get(self.kind, self.kind)
        if self.minimum is not None and self.maximum is not None:
            return f"{noun} from {_num(self.minimum)} to {_num(self.maximum)}"
        if self.minimum is not None:
            return f"{noun} of at least {_num(self.minimum)}"
        return {
            "boolean": "true or false",
            "string": "a string",
            "object": "a JSON object",
            "modalities": "a list of 'text' and 'audio'",
            "stop": "a string or a list of 1 to 4 strings",
        }.get(self.kind, noun)


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


_P = Parameter
PARAMETERS: dict[str, Parameter] = {
    p.name: p
    for p in (
        _P("temperature", "number", "Sampling temperature.", 0, 2, server_default=1.0),
        _P(
            "top_p",
            "number",
            "Nucleus sampling: the probability mass considered.",
            0,
            1,
            server_default=1.0,
        ),
        _P(
            "reasoning_effort",
            "choice",
            "How hard the model reasons.",
            choices=("low", "medium", "high"),
        ),
        _P(
            "thinking",
            "boolean",
            "Reasoning on or off (sent as chat_template_kwargs.thinking and .enable_thinking).",
        ),
        _P("seed", "integer", "Seed for repeatable sampling."),
        _P(
            "max_completion_tokens",
            "integer",
            "Upper bound on reasoning + answer tokens.",
            1,
            CONTEXT_WINDOW_TOKENS,
        ),
        _P(
            "max_tokens",
            "integer",
            "Deprecated: sent as max_completion_tokens.",
            1,
            CONTEXT_WINDOW_TOKENS,
        ),
        _P(
            "frequency_penalty",
            "number",
            "Penalise tokens by how often they already appeared.",
            -2,
            2,
            server_default=0.0,
        ),
        _P(
            "presence_penalty",
            "number",
            "Penalise tokens that already appeared at all.",
            -2,
            2,
            server_default=0.0,
        ),
        _P("stop", "stop", "Up to 4 sequences where generation stops."),
        _P("n", "integer", "How many answers (choices) to generate.", 1, 128, server_default=1),
        _P(
            "logprobs",
            "boolean",
            "Return the log probability of each answer token.",
            server_default=False,
        ),
        _P(
            "top_logprobs",
            "integer",
            "How many alternatives to return per token (needs logprobs).",
            0,
            20,
        ),
        _P(
            "logit_bias",
            "object",
            "Token id -> bias from -100 to 100, as a JSON object.",
            described="a JSON object mapping token ids to a bias from -100 to 100",
        ),
        _P(
            "metadata",
            "object",
            "Up to 16 key-value pairs attached to the request.",
            described="a JSON object of at most 16 key-value pairs",
        ),
        _P("modalities", "modalities", "Output types requested, e.g. text."),
        _P(
            "parallel_tool_calls",
            "boolean",
            "Allow several tool calls at once.",
            server_default=True,
        ),
        _P(
            "service_tier",
            "choice",
            "Processing type for the request.",
            choices=("auto", "default", "flex", "scale", "priority"),
            server_default="auto",
        ),
        _P("store", "boolean", "Store the output for distillation / evals.", server_default=False),
        _P("stream", "boolean", "Stream the answer as it is generated.", server_default=True),
        _P("user", "string", "An id of your end user, for abuse monitoring."),
    )
}

LOGIT_BIAS_RANGE = (-100, 100)
METADATA_MAX_PAIRS = 16
STOP_MAX_SEQUENCES = 4
MODALITIES = ("text", "audio")
# Body keys of the published schema that are not tunable parameters (other modules build
# them: tools, response_format ...); the Python API passes them through as given.
BODY_EXTRAS = frozenset(
    {
        "tools",
        "tool_choice",
        "response_format",
        "chat_template_kwargs",
        "stream_options",
        "prediction",
        "audio",
        "web_search_options",
        "functions",
        "function_call",
    }
)

DEPRECATED = {"max_tokens": "max_completion_tokens"}


def deprecation_note(name: str) -> str:
    """The one-line note shown when a deprecated parameter is used."""
    return f"Note: {name} is deprecated; it was sent as {DEPRECATED[name]}."


def validate(params: Mapping[str, Any]) -> dict[str, Any]:
    """`params` checked against the documented ranges; None values pass (they are not sent).

    Raises ConfigurationError naming the parameter and its range. Unknown names pass
    untouched (messages, tools, response_format, ... are other modules' business).
    """
    checked = dict(params)
    for name, value in params.items():
        _refuse_non_finite(name, value)  # tools, response_format, ... included
        parameter = PARAMETERS.get(name)
        if parameter is None or value is None:
            continue
        checked[name] = _check(parameter, value)
    if checked.get("top_logprobs") is not None:
        if checked.get("logprobs") is False:
            raise ConfigurationError(
                "top_logprobs needs logprobs: set logprobs to true (or leave it unset and it is "
                "turned on for you), or drop top_logprobs."
            )
        checked["logprobs"] = True
    return checked


def _refuse_non_finite(name: str, value: Any, path: str = "") -> None:
    """NaN and Infinity are not JSON: refuse them before sending (httpx would raise a bare
    ValueError, and a server would reject the body)."""
    if isinstance(value, float) and not math.isfinite(value):
        where = f"{name}{path}"
        raise ConfigurationError(
            f"{where} is {value!r}, which JSON cannot carry (no NaN or Infinity). Nothing was "
            f"sent; use a finite number or null there and run again."
        )
    if isinstance(value, Mapping):
        for key, item in value.items():
            _refuse_non_finite(name, item, f"{path}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _refuse_non_finite(name, item, f"{path}[{position}]")


def normalized(params: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """`params` validated, deprecated names sent under their new names (`max_tokens` as
    `max_completion_tokens`, unless both are set); returns the notes to show about it."""
    checked = validate(params)
    notes = []
    for old, new in DEPRECATED.items():
        value = checked.pop(old, None)
        if value is not None:
            checked.setdefault(new, value)
            notes.append(deprecation_note(old))
    return checked, notes


def coerce(name: str, text: str) -> Any:
    """A setting's value from text (an environment variable, a config file string)."""
    parameter = PARAMETERS.get(name)
    kind = parameter.kind if parameter else "string"
    text = text.strip()
    try:
        if kind == "number":
            return float(text)
        if kind == "integer":
            return int(text)
        if kind == "boolean":
            return parse_boolean(text)
        if kind in ("object", "modalities"):
            return json.loads(text) if text.startswith(("{", "[")) else text.split(",")
        if kind == "stop":
            return json.loads(text) if text.startswith("[") else text
    except ValueError:
        raise ConfigurationError(
            f"{name} must be {parameter.range_text if parameter else 'text'}, not {text!r}."
        ) from None
    return text


def parse_boolean(text: str) -> bool:
    """`true`/`false`, `yes`/`no`, `on`/`off`, `1`/`0`, as written in a config file or env."""
    lowered = text.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _refuse(parameter: Parameter, value: Any, extra: str = "") -> ConfigurationError:
    return ConfigurationError(
        f"{parameter.name} must be {parameter.range_text}, not {value!r}{extra}. Nothing was "
        f"sent; change it (keyword {parameter.name}=, flag {parameter.flag}, "
        f"%config KimiMagics.{parameter.name} or the panel) and run again."
    )


def _check(p: Parameter, value: Any) -> Any:
    kind = p.kind
    if kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _refuse(p, value)
        if kind == "integer" and not float(value).is_integer():
            raise _refuse(p, value)
        if isinstance(value, float) and not math.isfinite(value):
            raise _refuse(p, value)
        if (p.minimum is not None and value < p.minimum) or (
            p.maximum is not None and value > p.maximum
        ):
            raise _refuse(p, value)
        return int(value) if kind == "integer" else float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _refuse(p, value)
        return value
    if kind == "choice":
        if value not in p.choices:
            raise _refuse(p, value)
        return value
    if kind == "string":
        if not isinstance(value, str):
            raise _refuse(p, value)
        return value
    if kind == "stop":
        if isinstance(value, str):
            return value
        if (
            isinstance(value, (list, tuple))
            and 1 <= len(value) <= STOP_MAX_SEQUENCES
            and all(isinstance(v, str) for v in value)
        ):
            return list(value)
        raise _refuse(p, value)
    if kind == "modalities":
        if isinstance(value, (list, tuple)) and value and all(v in MODALITIES for v in value):
            return list(value)
        raise _refuse(p, value)
    if p.name == "logit_bias":
        return _check_logit_bias(p, value)
    if p.name == "metadata":
        if not isinstance(value, Mapping) or len(value) > METADATA_MAX_PAIRS:
            raise _refuse(p, value)
        return {str(k): v for k, v in value.items()}
    return value


def _check_logit_bias(p: Parameter, value: Any) -> dict[str, float]:
    low, high = LOGIT_BIAS_RANGE
    if not isinstance(value, Mapping):
        raise _refuse(p, value)
    checked: dict[str, float] = {}
    for token, bias in value.items():
        if not str(token).lstrip("-").isdigit():
            raise _refuse(p, value, f" (key {token!r} is not a token id)")
        if isinstance(bias, bool) or not isinstance(bias, (int, float)) or not low <= bias <= high:
            raise _refuse(p, value, f" (bias {bias!r} is outside {low} to {high})")
        checked[str(token)] = bias
    return checked
