"""Structured answers and answers as values: `--json`, `--schema` (dict and pydantic) with the
`response_format` each endpoint gets, validation and its errors, `-o`, `-f code`, `--dry-run`."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator
from kimi_magic.prompt.structured import OutputSpec, StructuredOutputError, schema_problem

POINT_SCHEMA = {
    "title": "Point",
    "type": "object",
    "properties": {
        "x": {"type": "number"},
        "y": {"type": "number"},
        "label": {"type": "string", "enum": ["a", "b"]},
    },
    "required": ["x", "y"],
    "additionalProperties": False,
}


pytestmark = pytest.mark.usefixtures("schema_checked")


def body(emulator: Emulator, index: int = -1) -> dict[str, Any]:
    return emulator.requests[index]["json"]


def test_o_stores_the_answer_text(kimi_shell: Any, emulator: Emulator) -> None:
    emulator.script({"content": "Forty-two."})
    result = kimi_shell.run_cell("%kimi -o reply What is the answer?")
    assert result.error_in_exec is None
    assert kimi_shell.user_ns["reply"] == "Forty-two."


def test_json_sends_json_object_and_stores_the_parsed_object(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    emulator.script({"content": '```json\n{"cities": ["Oslo", "Rome"], "count": 2}\n```'})
    result = kimi_shell.run_cell("%%kimi --json -o data\nTwo cities as JSON.")
    assert result.error_in_exec is None
    assert kimi_shell.user_ns["data"] == {"cities": ["Oslo", "Rome"], "count": 2}
    sent = body(emulator)
    assert sent["response_format"] == {"type": "json_object"}
    assert "Answer with one JSON object only" in sent["messages"][-1]["content"]
    validate_request(sent)


def test_schema_dict_native_endpoint_gets_the_bare_schema_with_a_name(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    kimi_shell.user_ns["point_schema"] = POINT_SCHEMA
    emulator.script({"content": '{"x": 1, "y": 2.5, "label": "a"}'})
    result = kimi_shell.run_cell("%kimi --schema point_schema -o p A point, please.")
    assert result.error_in_exec is None
    assert kimi_shell.user_ns["p"] == {"x": 1, "y": 2.5, "label": "a"}
    assert body(emulator)["response_format"] == {
        "type": "json_schema",
        "json_schema": {**POINT_SCHEMA, "name": "Point"},
    }
    validate_request(body(emulator))


def test_schema_on_the_openai_endpoint_gets_openais_envelope(
    kimi_shell: Any, emulator: Emulator, monkeypatch: pytest.MonkeyPatch, validate_request: Any
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_OPENAI_BASE_URL", emulator.openai_base_url)
    monkeypatch.setenv("KIMI_MAGIC_API_KEY", emulator.token)
    kimi_shell.user_ns["point_schema"] = POINT_SCHEMA
    emulator.script({"content": '{"x": 0, "y": 0}'})
    kimi_shell.run_cell("%kimi --schema point_schema -o p Origin.")
    assert kimi_shell.user_ns["p"] == {"x": 0, "y": 0}
    sent = body(emulator)
    assert emulator.requests[-1]["path"].endswith("/ai/v1/chat/completions")
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "Point", "schema": POINT_SCHEMA, "strict": True},
    }
    validate_request(sent)


def test_pydantic_model_gives_a_validated_instance(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    pytest.importorskip("pydantic")
    kimi_shell.run_cell(
        "from pydantic import BaseModel\n"
        "class City(BaseModel):\n    name: str\n    population: int\n"
    )
    emulator.script({"content": '{"name": "Oslo", "population": 709000}'})
    result = kimi_shell.run_cell("%kimi --schema City -o city The capital of Norway.")
    assert result.error_in_exec is None
    city = kimi_shell.user_ns["city"]
    assert type(city).__name__ == "City" and city.population == 709_000
    response_format = body(emulator)["response_format"]
    assert response_format["json_schema"]["name"] == "City"
    assert response_format["json_schema"]["required"] == ["name", "population"]
    validate_request(body(emulator))


def test_invalid_output_is_a_clear_error_and_the_raw_text_is_kept(
    kimi_shell: Any, emulator: Emulator
) -> None:
    pytest.importorskip("pydantic")
    kimi_shell.run_cell(
        "from pydantic import BaseModel\n"
        "class City(BaseModel):\n    name: str\n    population: int\n"
    )
    emulator.script(
        {"content": '{"name": "Oslo", "population": "many"}'}, {"content": "Sure! Oslo."}
    )
    result = kimi_shell.run_cell("%kimi --schema City -o city The capital of Norway.")
    assert isinstance(result.error_in_exec, UsageError)
    message = str(result.error_in_exec)
    assert "does not fit City" in message and "population" in message
    assert "kimi_raw" in message and "city" not in kimi_shell.user_ns
    assert kimi_shell.user_ns["kimi_raw"] == '{"name": "Oslo", "population": "many"}'
    result = kimi_shell.run_cell("%kimi --json Again, as JSON.")
    assert "not valid JSON" in str(result.error_in_exec)
    assert kimi_shell.user_ns["kimi_raw"] == "Sure! Oslo."


def test_schema_name_must_exist_and_be_a_schema(kimi_shell: Any, emulator: Emulator) -> None:
    result = kimi_shell.run_cell("%kimi --schema Nope hello")
    assert "'Nope' is not defined" in str(result.error_in_exec)
    kimi_shell.run_cell("number = 3")
    result = kimi_shell.run_cell("%kimi --schema number hello")
    assert "a int is not a schema" in str(result.error_in_exec)
    assert emulator.requests == []


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ({"x": 1, "y": 2}, None),
        ({"x": 1}, "missing the required property 'y'"),
        ({"x": "1", "y": 2}, "should be number"),
        ({"x": 1, "y": 2, "z": 3}, "property 'z' the schema does not allow"),
        ({"x": 1, "y": 2, "label": "c"}, "should be one of ['a', 'b']"),
        ({"x": True, "y": 2}, "should be number"),
    ],
)
def test_the_built_in_check_without_jsonschema(
    value: dict[str, Any], problem: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "jsonschema", None)  # as if it were not installed
    found = schema_problem(value, POINT_SCHEMA)
    assert found == problem if problem is None else problem in (found or "")


def test_parse_keeps_raw_text_on_error() -> None:
    spec = OutputSpec()
    with pytest.raises(StructuredOutputError) as caught:
        spec.parse("[1, 2]")
    assert caught.value.raw == "[1, 2]" and "not an object" in str(caught.value)


def test_f_code_puts_the_code_in_the_next_cell(kimi_shell: Any, emulator: Emulator) -> None:
    emulator.script(
        {
            "content": "Use:\n\n```python\nimport math\nprint(math.pi)\n```\n\n"
            "and\n\n```\nx = 1\n```\n"
        }
    )
    kimi_shell.run_cell("%kimi -f code Print pi.")
    assert kimi_shell.rl_next_input == "import math\nprint(math.pi)\n\nx = 1"


def test_dry_run_sends_nothing_and_shows_everything(
    kimi_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    pil = pytest.importorskip("PIL.Image")
    kimi_shell.user_ns["picture"] = pil.new("RGB", (56, 28), "red")
    kimi_shell.user_ns["table"] = {"a": 1}
    kimi_shell.run_cell("%kimi --dry-run -t 0.2 --json -v table Describe {picture}.")
    assert emulator.requests == []
    out = capsys.readouterr().out
    assert "Dry run, nothing was sent. POST " + emulator.base_url in out
    shown = json.loads(out[out.index("{") :])
    assert shown["temperature"] == 0.2
    assert shown["response_format"] == {"type": "json_object"}
    parts = shown["messages"][-1]["content"]
    assert parts[0]["text"].startswith("Describe [image 1: picture].")
    assert "### table" in parts[0]["text"]
    assert parts[1]["image_url"]["url"].startswith("data:image/png;base64,… (")
    assert "Estimated prompt: about" in out and "$0.0" in out


def test_dry_run_shows_the_url_of_the_model_flag(
    kimi_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    kimi_shell.run_cell("%kimi --dry-run --model @cf/other/model Hello")
    out = capsys.readouterr().out
    assert "/ai/run/@cf/other/model\n" in out and emulator.requests == []


def test_dry_run_html_has_thumbnails_and_is_not_remembered_as_an_image(kimi_shell: Any) -> None:
    pil = pytest.importorskip("PIL.Image")
    from kimi_magic.prompt.images import image_from_object
    from kimi_magic.session.dry_run import DryRun

    image = image_from_object(pil.new("RGB", (10, 10), "red"), "red")
    data, metadata = DryRun(
        "u", {"messages": [{"role": "user", "content": "hi"}]}, [image], 3
    )._repr_mimebundle_()
    assert f'<img src="{image.data_url}"' in data["text/html"]
    assert "10x10 px" in data["text/html"]
    magics = kimi_shell.magics_manager.registry["KimiMagics"]
    before = len(magics.context.images.shown)
    kimi_shell.display_pub.publish({"image/png": image.data}, metadata)
    assert len(magics.context.images.shown) == before


def test_dry_run_needs_no_credentials(
    kimi_shell: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID", "KIMI_MAGIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    result = kimi_shell.run_cell("%kimi --dry-run Hello there")
    assert result.error_in_exec is None
    out = capsys.readouterr().out
    assert "no credentials set, so no endpoint yet" in out and '"content": "Hello there"' in out
