"""The session core: a whole turn in plain Python (no IPython, no widgets), one record per
call with how it ended, question order kept across threads, listeners, settings that apply
from the next call, and prompts refused before sending."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import pytest
from waiting import wait_until

from kimi_magic import ConfigurationError, KimiError, Session, StreamError
from kimi_magic.api.save_file import dump, undump
from kimi_magic.emulator import Emulator
from kimi_magic.session.events import AnswerFinished, SettingsChanged
from kimi_magic.session.turn import Question


def connection(emulator: Emulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "account_id": emulator.account_id,
        "api_token": emulator.token,
    }


@pytest.fixture
def session(emulator_connection: dict[str, Any]) -> Session:
    """A session aimed at the emulator, with configuration isolated from this machine."""
    return Session(connection=emulator_connection)


def test_a_whole_turn_runs_without_ipython_or_widgets(emulator: Emulator, tmp_path: Path) -> None:
    emulator.script({"reasoning": "Think.", "content": "Plain Python works."})
    script = textwrap.dedent(
        f"""
        import json, sys
        from kimi_magic import Session
        session = Session(connection={json.dumps(connection(emulator))})
        answer = session.ask("hello", temperature=0.2)
        print(json.dumps({{
            "text": answer.text,
            "reasoning": answer.reasoning,
            "ended": answer.ended,
            "history": len(session.conversation().exchanges),
            "loaded": sorted(m for m in ("IPython", "ipywidgets", "traitlets")
                             if m in sys.modules),
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result == {
        "text": "Plain Python works.",
        "reasoning": "Think.",
        "ended": "complete",
        "history": 1,
        "loaded": [],
    }
    assert emulator.requests[-1]["json"]["temperature"] == 0.2


def test_the_call_is_the_record_of_how_it_ended(session: Session, emulator: Emulator) -> None:
    emulator.script(
        {"content": "Half an answer", "fault": {"type": "disconnect", "after_chunks": 2}}
    )
    with pytest.raises(StreamError, match="connection broke"):
        session.ask("tell me")
    (exchange,) = session.conversation().exchanges
    assert exchange.answer is not None and exchange.answer.ended == "stream_error"
    assert exchange.answer.text and exchange.answer.error
    # The next request tells the model the answer was cut short; a save file keeps how it ended.
    emulator.script({"content": "Whole."})
    session.ask("go on")
    sent = emulator.requests[-1]["json"]["messages"]
    assert sent[1]["role"] == "assistant" and "cut short" in sent[1]["content"]
    (saved,) = json.loads(json.dumps(dump([session.conversation()])))["conversations"]
    assert [e["answer"]["ended"] for e in saved["exchanges"]] == ["stream_error", "complete"]
    (loaded,) = undump({"format": "kimi_magic.conversations", "conversations": [saved]})
    assert [a.ended for a in loaded.answers] == ["stream_error", "complete"]


def test_questions_keep_their_order_when_answers_finish_out_of_order(
    session: Session, emulator: Emulator
) -> None:
    emulator.script(
        {"content": "slow answer", "rate": 5, "chunk_chars": 2},
        {"content": "fast"},
    )
    slow = session.prepare(Question("first"))
    slow_call = session.start(slow)
    reader = threading.Thread(target=slow_call.run_keeping_errors)
    reader.start()
    # The first request has taken the slow reply before the second asks.
    wait_until(lambda: emulator.requests, "the first question to reach the emulator")
    session.ask("second")  # finishes while the first still streams
    assert session.pending == 1
    reader.join(timeout=30)
    session.finish(slow)
    assert session.wait(timeout=1)
    questions = [e.user.text for e in session.conversation().exchanges]
    assert questions == ["first", "second"]
    assert [a.text for a in session.conversation().answers] == ["slow answer", "fast"]


def test_listeners_hear_of_answers_and_settings(session: Session, emulator: Emulator) -> None:
    heard: list[Any] = []
    unsubscribe = session.subscribe(heard.append)
    session.configure(temperature=0.3)
    emulator.script({"content": "ok"})
    session.ask("hi")
    assert isinstance(heard[0], SettingsChanged) and heard[0].names == ("temperature",)
    assert isinstance(heard[1], AnswerFinished) and heard[1].turn.answer.text == "ok"
    assert heard[1].turn.gauge is not None and heard[1].turn.gauge.used > 0
    assert emulator.requests[-1]["json"]["temperature"] == 0.3
    unsubscribe()
    session.configure(temperature=None)
    assert len(heard) == 2


def test_read_timeout_applies_from_the_next_call(session: Session, emulator: Emulator) -> None:
    emulator.script(
        {"content": "one"}, {"content": "slow", "fault": {"type": "stall", "seconds": 3}}
    )
    session.ask("first")
    session.configure(read_timeout=0.5)
    with pytest.raises(KimiError, match="read timeout"):
        session.ask("second")


def test_unknown_keywords_are_refused_with_the_closest_name(
    session: Session, emulator: Emulator
) -> None:
    with pytest.raises(ConfigurationError, match=r"temprature.*'temperature'"):
        session.ask("hi", temprature=0.2)
    assert emulator.requests == []


def test_a_prompt_over_the_window_is_refused_before_sending(
    session: Session, emulator: Emulator
) -> None:
    with pytest.raises(ConfigurationError, match="context window") as caught:
        session.ask("x" * 3_000_000)
    assert "750,0" in str(caught.value)  # the estimate is in the message
    assert emulator.requests == []
