"""Issue 15, settings that apply: credentials and the base URL read again for every call (a
fixed token works on the next call, a new base URL moves the next request), a context_window
too small for the room kept for the answer refused with what to set, and a context gauge and
fit check that count everything the request carries (tool schemas, response_format)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _canary import CANARY
from IPython.core.error import UsageError

import kimi_magic
from kimi_magic import APIStatusError, ConfigurationError, Session
from kimi_magic.emulator import Emulator

WRONG_TOKEN = "wrong-token-0123456789"


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator's credentials and base URL in the environment (as a notebook user has
    them), configuration isolated from this machine."""
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return emulator


@pytest.fixture
def session(env: Emulator) -> Iterator[Session]:
    made = Session()
    yield made
    made.close()


def answer_of(result: Any) -> Any:
    """The Answer of `Session.ask` (a Turn's `.answer`, or the Answer itself)."""
    return getattr(result, "answer", result)


# -- credentials and the endpoint, read again for every call -----------------------------------


def test_a_session_takes_a_fixed_token_on_the_next_call(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", WRONG_TOKEN)
    with pytest.raises(APIStatusError, match="rejected the API token") as refused:
        session.ask("Say hello.")
    assert refused.value.status == 401
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    assert answer_of(session.ask("Say hello.")).text == "Hello."
    assert [r["authorized"] for r in env.requests] == [False, True]


def test_kimi_magic_ask_takes_a_fixed_token_on_the_next_call(
    env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", WRONG_TOKEN)
    with pytest.raises(APIStatusError, match="rejected the API token"):
        kimi_magic.ask("Say hello.")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    assert kimi_magic.ask("Say hello.").text == "Hello."


def test_a_session_follows_a_new_base_url(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(token=CANARY, account_id=env.account_id) as other:
        env.script({"content": "The first server."}, {"content": "The first server again."})
        other.script({"content": "The second server."})
        assert answer_of(session.ask("Who answers?")).text == "The first server."
        monkeypatch.setenv("KIMI_MAGIC_BASE_URL", other.base_url)
        assert answer_of(session.ask("Who answers now?")).text == "The second server."
        monkeypatch.setenv("KIMI_MAGIC_BASE_URL", env.base_url)
        assert answer_of(session.ask("And now?")).text == "The first server again."
        assert len(env.requests) == 2 and len(other.requests) == 1


def test_credentials_removed_after_a_call_are_missed_on_the_next(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    assert answer_of(session.ask("Say hello.")).text == "Hello."
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(ConfigurationError, match="No Cloudflare credentials"):
        session.ask("Say hello again.")
    assert len(env.requests) == 1


# -- a context window with room for the answer -------------------------------------------------


def test_a_window_smaller_than_the_answers_room_is_refused_when_asked(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "Answering again."})
    controls_shell.run_line_magic("config", "KimiMagics.context_window = 1200")
    capsys.readouterr()
    result = controls_shell.run_cell("%kimi Are you there?")
    assert isinstance(result.error_in_exec, UsageError)
    shown = capsys.readouterr()
    said = shown.out + shown.err
    assert "context_window = 1,200 tokens leaves no room for a prompt" in said
    assert "%config KimiMagics.context_window = 262144" in said
    assert "-1" not in said and "Traceback" not in said
    assert emulator.requests == []
    controls_shell.run_line_magic("config", "KimiMagics.context_window = None")
    controls_shell.run_line_magic("kimi", "Are you there?")
    assert "Answering again." in capsys.readouterr().out


def test_a_window_with_room_for_a_smaller_answer_is_taken(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "Short."})
    controls_shell.run_line_magic("config", "KimiMagics.max_completion_tokens = 200")
    controls_shell.run_line_magic("config", "KimiMagics.context_window = 1200")
    controls_shell.run_line_magic("kimi", "Are you there?")
    out = capsys.readouterr().out
    assert "Short." in out and "/ 1,000 tokens" in out  # the gauge: 1,200 less 200 kept


def test_a_window_from_the_environment_is_refused_when_asked(
    env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_CONTEXT_WINDOW", "1200")
    with pytest.raises(ConfigurationError) as refused:
        kimi_magic.ask("Are you there?")
    message = str(refused.value)
    assert message.startswith("context_window = 1,200 tokens leaves no room for a prompt")
    assert "16,384" in message and "-" not in message.replace("%config", "")
    assert env.requests == []


def test_a_window_set_before_the_room_for_the_answer_is_taken_once_both_are(
    session: Session, env: Emulator
) -> None:
    env.script({"content": "Fits."})
    session.configure(context_window=1200)  # no room yet: taken, refused only when asked
    with pytest.raises(ConfigurationError, match="context_window = 1,200 tokens leaves no room"):
        session.ask("Hi")
    session.configure(max_completion_tokens=100)
    assert answer_of(session.ask("Hi")).text == "Fits."
    assert len(env.requests) == 1


# -- the gauge counts what the request carries -------------------------------------------------


@pytest.fixture
def tool_with_a_long_schema() -> Iterator[None]:
    from kimi_magic.tools.registry import REGISTRY, tool_from_function

    def lookup_weather(city: str, country: str, unit: str, days: int, hourly: bool) -> str:
        """Look up the weather forecast of a city: temperatures, rain, wind and humidity for
        each of the coming days, in Celsius or Fahrenheit, optionally hour by hour."""
        return "sunny"

    REGISTRY.add(tool_from_function(lookup_weather))
    yield
    REGISTRY.remove("lookup_weather")


def gauge_tokens(out: str) -> int:
    line = next(part for part in out.split("·") if part.strip().startswith("context "))
    return int(line.split()[1].replace(",", ""))


@pytest.mark.usefixtures("tool_with_a_long_schema")
def test_offering_tools_raises_the_gauge_by_their_schemas(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    emulator.script({"content": "No tool needed."}, {"content": "No tool needed."})
    controls_shell.run_cell_magic("kimi", "--new", "What is 2+2?")
    without = gauge_tokens(capsys.readouterr().out)
    controls_shell.run_cell_magic("kimi", "--new --tools lookup_weather", "What is 2+2?")
    with_tools = gauge_tokens(capsys.readouterr().out)
    schemas = len(json.dumps(emulator.requests[-1]["json"]["tools"])) / 4
    assert schemas > 50
    assert 0.7 * schemas <= with_tools - without <= 1.3 * schemas


def test_the_fit_check_counts_the_tool_schemas(env: Emulator) -> None:
    """A prompt that fits alone but not beside the schemas it carries is refused, unsent."""
    tools = [
        {
            "type": "function",
            "function": {
                "name": f"tool_{n}",
                "description": "A tool with a long description. " * 20,
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for n in range(10)
    ]
    assert kimi_magic.ask("Hi", context_window=1200, max_completion_tokens=200).text
    with pytest.raises(ConfigurationError, match="tool schemas and response format take"):
        kimi_magic.ask("Hi", context_window=1200, max_completion_tokens=200, tools=tools)
    assert len(env.requests) == 1


def estimated_tokens(out: str) -> int:
    return int(out.split("Estimated prompt: about ")[1].split()[0].replace(",", ""))


@pytest.mark.usefixtures("tool_with_a_long_schema")
def test_a_dry_runs_estimate_counts_the_tool_schemas(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from kimi_magic.tools.registry import REGISTRY

    controls_shell.run_cell_magic("kimi", "--dry-run", "What is 2+2?")
    without = estimated_tokens(capsys.readouterr().out)
    controls_shell.run_cell_magic("kimi", "--dry-run --tools lookup_weather", "What is 2+2?")
    with_tools = estimated_tokens(capsys.readouterr().out)
    schemas = len(json.dumps([REGISTRY.get("lookup_weather").definition()])) / 4
    assert 0.7 * schemas <= with_tools - without <= 1.3 * schemas
    assert emulator.requests == []
