"""One Python API: `kimi_magic.ask`, `Kimi.ask` and `Session.ask` take the same keywords, run
a plain function as a tool the same way and return an `Answer` carrying the notes the magic
shows; `map` takes the same request keywords; the old names still work, with a warning."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest

import kimi_magic
from kimi_magic import Answer, Conversation, Kimi, Session
from kimi_magic.emulator import Emulator, Reply
from kimi_magic.scale.output import MapResult
from kimi_magic.session.turn import Turn

ASKS = ("kimi_magic.ask", "Kimi.ask", "Session.ask")
KEYWORDS = ["prompt", "chat", "system", "tools", "echo", "params"]


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


ADD_CALL = {"tool_calls": [{"name": "add", "arguments": {"a": 2, "b": 3}}]}


@pytest.fixture
def asks(emulator_connection: dict[str, Any]) -> Iterator[dict[str, Callable[..., Any]]]:
    """Each public `ask`, aimed at the emulator."""
    kimi = Kimi(**emulator_connection)
    session = Session(connection=emulator_connection)
    yield {
        "kimi_magic.ask": partial(kimi_magic.ask, **emulator_connection),
        "Kimi.ask": kimi.ask,
        "Session.ask": session.ask,
    }
    kimi.close()
    session.close()


def public(name: str) -> Callable[..., Any]:
    return {"kimi_magic.ask": kimi_magic.ask, "Kimi.ask": Kimi.ask, "Session.ask": Session.ask}[
        name
    ]


def parameters(function: Callable[..., Any]) -> list[tuple[str, Any, Any, Any]]:
    """(name, kind, default, annotation) of each parameter but `self`."""
    return [
        (p.name, p.kind, p.default, p.annotation)
        for p in inspect.signature(function).parameters.values()
        if p.name != "self"
    ]


def test_the_three_asks_declare_the_same_keywords_and_return_an_answer() -> None:
    reference = parameters(kimi_magic.ask)
    assert [name for name, *_ in reference] == KEYWORDS
    for name in ASKS:
        assert parameters(public(name)) == reference, name
        assert inspect.signature(public(name)).return_annotation == "Answer", name


def test_map_declares_its_types_and_takes_request_keywords_as_the_asks_do() -> None:
    signature = inspect.signature(kimi_magic.map)
    assert signature.return_annotation == "MapResult | MapFrame | Estimate"
    assert [p.kind for p in signature.parameters.values()][-1] is inspect.Parameter.VAR_KEYWORD
    for function in (kimi_magic.wait, kimi_magic.panel, kimi_magic.batch_results):
        assert "Any" not in str(inspect.signature(function).return_annotation)


@pytest.mark.parametrize("which", ASKS)
def test_each_ask_takes_the_same_keywords_and_returns_an_answer(
    which: str, asks: dict[str, Callable[..., Any]], emulator: Emulator
) -> None:
    emulator.script({"content": "first"}, {"content": "second"})
    chat = Conversation()
    ask = asks[which]
    first = ask("Hello", chat=chat, system="Be brief.", temperature=0.2)
    second = ask("And again", chat=chat)

    assert isinstance(first, Answer) and isinstance(second, Answer)
    assert (first.text, second.text) == ("first", "second")
    sent = emulator.requests[0]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.2
    history = [m["content"] for m in emulator.requests[1]["json"]["messages"]]
    assert history == ["Hello", "first", "And again"]  # the Conversation kept the history


def test_map_takes_the_same_request_keywords(
    emulator: Emulator, emulator_connection: dict[str, Any]
) -> None:
    out = kimi_magic.map(
        ["cat"],
        "One word for {item}",
        system="Be brief.",
        temperature=0.2,
        progress=False,
        checkpoint=False,
        **emulator_connection,
    )
    assert isinstance(out, MapResult) and isinstance(out[0], str)
    sent = emulator.requests[0]["json"]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.2


@pytest.mark.parametrize("which", ASKS)
def test_each_ask_runs_a_plain_function_as_a_tool(
    which: str, asks: dict[str, Callable[..., Any]], emulator: Emulator
) -> None:
    emulator.script(ADD_CALL, {"content": "2 + 3 = {{tool_result:0}}"})
    answer = asks[which]("Add 2 and 3", tools=[add])

    assert answer.text == "2 + 3 = 5"
    assert emulator.requests[0]["json"]["tools"][0]["function"]["name"] == "add"
    assert len(emulator.requests) == 2  # the result went back, then the model answered


@pytest.mark.parametrize("which", ASKS)
def test_an_answer_stopped_by_the_round_cap_says_so_in_its_notes(
    which: str, asks: dict[str, Callable[..., Any]], emulator: Emulator
) -> None:
    emulator.script(ADD_CALL)
    answer = asks[which]("Add 2 and 3", tools=[add], tool_max_rounds=1)

    assert answer.text == "" and len(emulator.requests) == 1
    assert answer.notes == [
        "Stopped after 1 rounds (the cap, tool_max_rounds): the model still wanted to call "
        "add. Ask it to go on, or raise the cap."
    ]


def test_a_partial_answer_says_so_in_its_notes(
    asks: dict[str, Callable[..., Any]], emulator: Emulator
) -> None:
    emulator.script({"content": "cut", "finish_reason": "length"})
    answer = asks["Session.ask"]("Write a lot", max_completion_tokens=1)
    assert answer.ended == "token_limit"
    assert answer.notes == ["Cut at the token limit: the answer is partial."]


def test_a_whole_answer_has_no_notes(
    asks: dict[str, Callable[..., Any]], emulator: Emulator
) -> None:
    emulator.script({"content": "fine"})
    assert asks["kimi_magic.ask"]("Hi").notes == []


def test_echo_streams_each_ask_to_stdout(
    asks: dict[str, Callable[..., Any]], emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    for which in ASKS:
        emulator.script({"content": f"echoed by {which}"})
        asks[which]("Hi", echo=True)
        assert f"echoed by {which}" in capsys.readouterr().out


def test_session_run_turn_is_the_step_that_gives_the_turn(
    emulator_connection: dict[str, Any], emulator: Emulator
) -> None:
    emulator.script({"content": "a turn"})
    session = Session(connection=emulator_connection)
    turn = session.run_turn("Hi")
    assert isinstance(turn, Turn) and turn.answer.text == "a turn"
    assert turn.gauge is not None and turn.call is not None


def test_the_old_names_still_work_with_a_warning(
    emulator_connection: dict[str, Any], emulator: Emulator
) -> None:
    emulator.script({"content": "one"}, {"content": "two"}, {"content": "three"})
    chat = Conversation()
    with Kimi(**emulator_connection) as kimi:
        with pytest.warns(DeprecationWarning, match=r"Kimi.ask\(chat=...\)"):
            assert kimi.ask("Hi", conversation=chat).text == "one"
        assert len(chat.exchanges) == 1

        call = kimi.stream([{"role": "user", "content": "Hi"}])
        with pytest.warns(DeprecationWarning, match=r"Call.result\(\)"):
            assert call.until_done().text == "two"
        call = kimi.stream([{"role": "user", "content": "Hi"}])
        with pytest.warns(DeprecationWarning, match=r"Call.run_keeping_errors\(\)"):
            assert call.run().text == "three"


def test_a_failed_call_raises_from_result_and_is_kept_by_run_keeping_errors(
    emulator_connection: dict[str, Any], emulator: Emulator
) -> None:
    bad = Reply.http_error(400, 8001, "Invalid input.")
    emulator.script(bad, bad)
    with Kimi(**emulator_connection, max_retries=0) as kimi:
        with pytest.raises(kimi_magic.KimiError):
            kimi.stream([{"role": "user", "content": "Hi"}]).result()
        call = kimi.stream([{"role": "user", "content": "Hi"}])
        answer = call.run_keeping_errors()
        assert call.error is not None and answer.ended == "error"


def test_the_magic_shows_the_note_its_answer_carries_once(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    from kimi_magic.magic.extension import loaded

    looping = {"tool_calls": [{"name": "list_variables", "arguments": {}}]}
    emulator.script(looping, looping)
    controls_shell.run_cell_magic("kimi", "--tools notebook --max-rounds 1", "loop")

    [answer] = loaded(controls_shell).session.conversation().answers
    [note] = answer.notes
    assert note.startswith("Stopped after 1 rounds (the cap, tool_max_rounds)")
    assert capsys.readouterr().out.count(note) == 1
