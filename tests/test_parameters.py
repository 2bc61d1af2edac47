"""Every request parameter: the table matches the published schema, each value set on a flag,
in %config or as a Python keyword reaches the request and validates against the schema, and an
out-of-range value is refused before anything is sent, with an error naming the range."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic import APIStatusError, ConfigurationError, Kimi
from kimi_magic.core.parameters import PARAMETERS, validate
from kimi_magic.emulator import Emulator

LAUNCH_SCHEMA = (
    Path(__file__).resolve().parents[1] / "schemas" / "workers-ai" / "kimi-k2.6.launch.json"
)


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


def last_body(emulator: Emulator) -> dict[str, Any]:
    body: dict[str, Any] = emulator.requests[-1]["json"]
    return body


def _schema_property(schema: dict[str, Any], name: str) -> dict[str, Any]:
    prop: dict[str, Any] = schema["oneOf"][1]["properties"][name]
    return prop


def _branch(prop: dict[str, Any]) -> dict[str, Any]:
    """The non-null branch of an `anyOf` property (or the property itself)."""
    for branch in prop.get("anyOf", [prop]):
        if branch.get("type") != "null":
            return dict(branch)
    return prop


SCHEMA_NAMES = [name for name in PARAMETERS if name not in ("thinking", "service_tier")]


@pytest.mark.parametrize("name", SCHEMA_NAMES)
def test_the_table_matches_the_published_schema(schema: dict[str, Any], name: str) -> None:
    branch = _branch(_schema_property(schema, name))
    ours = PARAMETERS[name]
    if "minimum" in branch or "maximum" in branch:
        assert (ours.minimum, ours.maximum) == (branch.get("minimum"), branch.get("maximum"))
    if "enum" in branch:
        assert list(ours.choices) == branch["enum"]
    expected_kind = {
        "number": "number",
        "integer": "integer",
        "boolean": "boolean",
        "string": "string",
        "object": "object",
        "array": "modalities",
    }
    if name != "stop":
        kind = "choice" if "enum" in branch else expected_kind[branch["type"]]
        assert ours.kind == kind


def test_service_tier_matches_the_launch_schema() -> None:
    data = json.loads(LAUNCH_SCHEMA.read_text(encoding="utf-8"))
    prop = data["schema"]["input"]["anyOf"][0]["oneOf"][1]["properties"]["service_tier"]
    assert list(PARAMETERS["service_tier"].choices) == _branch(prop)["enum"]


def test_the_validator_rejects_what_the_schema_forbids(validate_request: Any) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    with pytest.raises(jsonschema.ValidationError):
        validate_request({"messages": [{"role": "user", "content": "x"}], "temperature": 7})


# One valid value per parameter, and what the request body must then carry.
VALID: list[tuple[str, Any, dict[str, Any]]] = [
    ("temperature", 0.2, {"temperature": 0.2}),
    ("top_p", 0.5, {"top_p": 0.5}),
    ("reasoning_effort", "low", {"reasoning_effort": "low"}),
    ("thinking", False, {"chat_template_kwargs": {"thinking": False, "enable_thinking": False}}),
    ("seed", 42, {"seed": 42}),
    ("max_completion_tokens", 500, {"max_completion_tokens": 500}),
    ("max_tokens", 400, {"max_completion_tokens": 400}),
    ("frequency_penalty", -1.5, {"frequency_penalty": -1.5}),
    ("presence_penalty", 1.0, {"presence_penalty": 1.0}),
    ("stop", ["###", "END"], {"stop": ["###", "END"]}),
    ("n", 2, {"n": 2}),
    ("logprobs", True, {"logprobs": True}),
    ("top_logprobs", 3, {"top_logprobs": 3, "logprobs": True}),
    ("logit_bias", {"1234": -100, "99": 5.5}, {"logit_bias": {"1234": -100, "99": 5.5}}),
    ("metadata", {"project": "demo"}, {"metadata": {"project": "demo"}}),
    ("modalities", ["text"], {"modalities": ["text"]}),
    ("parallel_tool_calls", False, {"parallel_tool_calls": False}),
    ("service_tier", "flex", {"service_tier": "flex"}),
    ("store", True, {"store": True}),
    ("stream", False, {"stream": False}),
    ("user", "analyst-7", {"user": "analyst-7"}),
]


def test_every_parameter_has_a_case() -> None:
    assert {name for name, _, _ in VALID} == set(PARAMETERS)


@pytest.mark.parametrize(("name", "value", "expected"), VALID, ids=[c[0] for c in VALID])
def test_python_keyword_reaches_the_request_and_validates(
    emulator: Emulator, validate_request: Any, name: str, value: Any, expected: dict[str, Any]
) -> None:
    with Kimi(
        base_url=emulator.base_url, account_id=emulator.account_id, api_token=emulator.token
    ) as kimi:
        answer = kimi.ask("hi", **{name: value})
    body = last_body(emulator)
    assert {k: body.get(k) for k in expected} == expected
    validate_request(body)
    assert answer.text


# The same through the magic's flags: (flag text, what the body carries).
FLAGS: list[tuple[str, dict[str, Any]]] = [
    ("-t 0.2", {"temperature": 0.2}),
    ("--temperature 1.5", {"temperature": 1.5}),
    ("--top-p 0.5", {"top_p": 0.5}),
    ("--effort low", {"reasoning_effort": "low"}),
    ("--reasoning-effort high", {"reasoning_effort": "high"}),
    ("--no-thinking", {"chat_template_kwargs": {"thinking": False, "enable_thinking": False}}),
    ("--thinking", {"chat_template_kwargs": {"thinking": True, "enable_thinking": True}}),
    ("--seed 42", {"seed": 42}),
    ("--max-completion-tokens 500", {"max_completion_tokens": 500}),
    ("--max-tokens 400", {"max_completion_tokens": 400}),
    ("--frequency-penalty -1.5", {"frequency_penalty": -1.5}),
    ("--presence-penalty 1", {"presence_penalty": 1.0}),
    ("--stop '###' --stop END", {"stop": ["###", "END"]}),
    ("-n 2", {"n": 2}),
    ("--logprobs", {"logprobs": True}),
    ("--top-logprobs 3", {"top_logprobs": 3, "logprobs": True}),
    ("--logit-bias '{\"1234\": -100}'", {"logit_bias": {"1234": -100}}),
    ('--metadata \'{"project": "demo"}\'', {"metadata": {"project": "demo"}}),
    ("--modalities text", {"modalities": ["text"]}),
    ("--no-parallel-tool-calls", {"parallel_tool_calls": False}),
    ("--service-tier flex", {"service_tier": "flex"}),
    ("--store", {"store": True}),
    ("--no-stream", {"stream": False}),
    ("--user analyst-7", {"user": "analyst-7"}),
]


@pytest.mark.parametrize(("flags", "expected"), FLAGS, ids=[f[0] for f in FLAGS])
def test_magic_flag_reaches_the_request_and_validates(
    controls_shell: Any,
    emulator: Emulator,
    validate_request: Any,
    flags: str,
    expected: dict[str, Any],
) -> None:
    result = controls_shell.run_cell(f"%kimi {flags} hello there")
    assert result.error_in_exec is None
    body = last_body(emulator)
    assert {k: body.get(k) for k in expected} == expected
    assert body["messages"][-1]["content"] == "hello there"
    validate_request(body)


def test_every_parameter_has_a_flag_documented_in_help(controls_shell: Any) -> None:
    doc = magics(controls_shell).kimi.__doc__
    for parameter in PARAMETERS.values():
        assert parameter.flag in doc, parameter.name


def test_every_parameter_is_a_config_setting(
    controls_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    """`%config KimiMagics.<name>` for every parameter, all at once, in one valid request."""
    for name, value, _ in VALID:
        if name not in ("max_tokens", "n", "stream"):
            controls_shell.run_line_magic("config", f"KimiMagics.{name} = {value!r}")
    assert controls_shell.run_cell("%kimi hello").error_in_exec is None
    body = last_body(emulator)
    for name, _value, expected in VALID:
        if name not in ("max_tokens", "n", "stream", "thinking"):
            assert {k: body.get(k) for k in expected} == expected, name
    assert body["chat_template_kwargs"] == {"thinking": False, "enable_thinking": False}
    validate_request(body)


# Out of range: (keyword, value, words the error must contain).
INVALID: list[tuple[str, Any, str]] = [
    ("temperature", 2.5, "from 0 to 2"),
    ("temperature", -0.1, "from 0 to 2"),
    ("top_p", 1.5, "from 0 to 1"),
    ("frequency_penalty", 3, "from -2 to 2"),
    ("presence_penalty", -2.5, "from -2 to 2"),
    ("n", 0, "from 1 to 128"),
    ("n", 129, "from 1 to 128"),
    ("top_logprobs", 21, "from 0 to 20"),
    ("max_completion_tokens", 0, "from 1 to 262,144"),
    ("max_tokens", 300_000, "from 1 to 262,144"),
    ("seed", 1.5, "whole number"),
    ("reasoning_effort", "max", "one of low, medium, high"),
    ("service_tier", "gold", "one of auto, default, flex, scale, priority"),
    ("logit_bias", {"12": 250}, "-100 to 100"),
    ("logit_bias", {"hello": 1}, "token ids"),
    ("metadata", {str(i): "x" for i in range(17)}, "at most 16 key-value pairs"),
    ("modalities", ["video"], "'text' and 'audio'"),
    ("stop", ["a", "b", "c", "d", "e"], "1 to 4 strings"),
    ("logprobs", "yes", "true or false"),
    ("user", 7, "a string"),
]


@pytest.mark.parametrize(
    ("name", "value", "words"), INVALID, ids=[f"{c[0]}={c[1]!r}"[:40] for c in INVALID]
)
def test_out_of_range_is_refused_before_sending(
    emulator: Emulator, name: str, value: Any, words: str
) -> None:
    with (
        Kimi(
            base_url=emulator.base_url, account_id=emulator.account_id, api_token=emulator.token
        ) as kimi,
        pytest.raises(ConfigurationError) as caught,
    ):
        kimi.ask("hi", **{name: value})
    message = str(caught.value)
    assert name in message and words in message and "Nothing was sent" in message
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("line", "words"),
    [
        ("-t 7", "temperature must be a number from 0 to 2"),
        ("--top-logprobs 50", "top_logprobs must be a whole number from 0 to 20"),
        ("-n 500", "n must be a whole number from 1 to 128"),
        ("--logit-bias '{\"5\": 101}'", "-100 to 100"),
    ],
)
def test_out_of_range_flag_is_one_clear_error(
    controls_shell: Any, emulator: Emulator, line: str, words: str
) -> None:
    result = controls_shell.run_cell(f"%kimi {line} hello")
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert words in str(result.error_in_exec)
    assert emulator.requests == []


def test_out_of_range_config_is_refused_too(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.presence_penalty = 9")
    result = controls_shell.run_cell("%kimi hello")
    assert "presence_penalty must be a number from -2 to 2" in str(result.error_in_exec)
    assert emulator.requests == []


def test_top_logprobs_with_logprobs_off_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="top_logprobs needs logprobs"):
        validate({"top_logprobs": 2, "logprobs": False})


def test_module_level_ask_takes_and_checks_keywords(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    emulator.script({"content": "Paris."})
    answer = kimi_magic.ask("Capital of France?", top_logprobs=3)
    assert last_body(emulator)["top_logprobs"] == 3
    assert answer.logprobs and len(answer.logprobs[0].top) == 3
    with pytest.raises(ConfigurationError, match="from 0 to 20"):
        kimi_magic.ask("again", top_logprobs=99)
    assert len(emulator.requests) == 1


def test_module_level_ask_reads_model_and_api_from_the_environment(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    monkeypatch.setenv("KIMI_MAGIC_API", "openai")
    kimi_magic.ask("hi")
    assert emulator.requests[-1]["path"].endswith("/ai/v1/chat/completions")
    monkeypatch.setenv("KIMI_MAGIC_MODEL", "@cf/moonshotai/kimi-k2.6-preview")
    with pytest.raises(APIStatusError, match=r"No such model @cf/moonshotai/kimi-k2\.6-preview"):
        kimi_magic.ask("hi")  # the emulator knows one model: the setting reached it
    kimi_magic.ask("hi", model="@cf/moonshotai/kimi-k2.6", api="native")  # keywords win
    assert emulator.requests[-1]["path"].endswith("/ai/run/@cf/moonshotai/kimi-k2.6")


def test_max_tokens_is_mapped_with_a_one_line_note(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_cell("%kimi --max-tokens 300 hello")
    body = last_body(emulator)
    assert body["max_completion_tokens"] == 300 and "max_tokens" not in body
    assert (
        "max_tokens is deprecated; it was sent as max_completion_tokens" in capsys.readouterr().out
    )


def test_n_shows_every_choice(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(
        {"content": "Red.", "alternatives": ["Blue.", "Green."]},
        {"content": "Red.", "alternatives": ["Blue.", "Green."]},
    )
    for flags in ("-n 3", "-n 3 --no-stream"):
        controls_shell.run_cell(f"%kimi {flags} name a colour")
        out = capsys.readouterr().out
        for i, text in enumerate(("Red.", "Blue.", "Green."), start=1):
            assert f"Choice {i} of 3" in out and text in out
    assert last_body(emulator)["n"] == 3


def test_logprobs_colour_tokens_with_alternatives_on_hover(
    controls_shell: Any, emulator: Emulator
) -> None:
    from IPython.core.displaypub import CapturingDisplayPublisher

    emulator.script({"content": "Paris is the capital.", "chunk_chars": 6})
    publisher = controls_shell.display_pub
    controls_shell.display_pub = CapturingDisplayPublisher()
    try:
        controls_shell.run_cell("%kimi --top-logprobs 2 capital of France?")
        outputs = controls_shell.display_pub.outputs
    finally:
        controls_shell.display_pub = publisher
    html = next(o["data"]["text/html"] for o in outputs if "text/html" in o["data"])
    assert html.count('<span style="background-color:') >= 4  # one per token, plus a legend
    assert 'title="&#x27;Paris &#x27;: p = ' in html  # the token's probability on hover
    assert "~1" in html  # the runner-up alternative the emulator invented
    table = next(o["data"]["text/markdown"] for o in outputs if "text/html" in o["data"])
    assert "| token | p | top alternatives |" in table


@pytest.mark.parametrize("stream", [True, False])
def test_logprobs_arrive_streaming_or_not(emulator: Emulator, stream: bool) -> None:
    emulator.script({"content": "One two three.", "chunk_chars": 4, "alternatives": ["Four five."]})
    with Kimi(
        base_url=emulator.base_url, account_id=emulator.account_id, api_token=emulator.token
    ) as kimi:
        answer = kimi.ask("count", top_logprobs=2, n=2, stream=stream)
    assert "".join(t.token for t in answer.logprobs) == "One two three."
    assert all(len(t.top) == 2 and t.top[0][0] == t.token for t in answer.logprobs)
    assert answer.choices == ["One two three.", "Four five."]
