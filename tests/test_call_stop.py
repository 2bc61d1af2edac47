"""`Call.stop()` from another thread than the reader's (the Stop button on the main thread while
a reader thread streams): only the reader finishes the record, stop waits for it, and the
record is whole: its text is the concatenation of the events it recorded, ended interrupted."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from kimi_magic import Session
from kimi_magic.core.answer import Outcome
from kimi_magic.core.types import TextDelta
from kimi_magic.emulator import Emulator
from kimi_magic.session.turn import Question

ROUNDS = 12
LONG_ANSWER = " ".join(f"word{n}" for n in range(4000))


@pytest.fixture
def session(emulator_connection: dict[str, Any]) -> Session:
    return Session(connection=emulator_connection)


def text_of(events: list[Any]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.choice == 0)


def start_reader(call: Any, wanted: int) -> tuple[threading.Thread, threading.Event]:
    """A reader thread iterating `call`; the event is set once `wanted` events came."""
    arrived = threading.Event()

    def read() -> None:
        for seen, _ in enumerate(call, start=1):
            if seen >= wanted:
                arrived.set()
        arrived.set()

    reader = threading.Thread(target=read, name="reader")
    reader.start()
    return reader, arrived


@pytest.mark.parametrize("rate", [200, None], ids=["slow stream", "unpaced stream"])
def test_a_stop_from_another_thread_leaves_a_whole_record(
    session: Session, emulator: Emulator, rate: int | None
) -> None:
    for round_ in range(ROUNDS):
        emulator.script({"content": LONG_ANSWER, "rate": rate})
        turn = session.prepare(Question.from_keywords("Talk at length.", {}))
        call = session.start(turn)
        # Stop after a different number of events each round, so it lands at different
        # points of the read (mid-chunk, between reads).
        reader, arrived = start_reader(call, wanted=3 + round_ * 7)
        assert arrived.wait(30), "the stream never started"
        call.stop()
        # stop() returned: the reader has finished the record, and adds nothing more.
        answer = call.answer
        recorded = list(call.events)
        reader.join(30)
        assert not reader.is_alive()
        session.finish(turn)
        assert answer.ended is Outcome.INTERRUPTED, round_
        assert answer.text == text_of(recorded) == text_of(call.events), round_
        assert 0 < len(answer.text) < len(LONG_ANSWER)
        assert call.answer is answer and call.error is None


def test_a_stop_before_any_reader_finishes_the_record_itself(
    session: Session, emulator: Emulator
) -> None:
    emulator.script({"content": "Never sent."})
    turn = session.prepare(Question.from_keywords("Hello?", {}))
    call = session.start(turn)
    call.stop()  # no reader yet: nothing to wait for
    assert call.answer.ended is Outcome.INTERRUPTED
    assert list(call) == [] and emulator.requests == []  # a later read sends nothing
    session.finish(turn)


def test_a_stop_after_the_answer_ended_leaves_it_complete(
    session: Session, emulator: Emulator
) -> None:
    emulator.script({"content": "All of it."})
    turn = session.prepare(Question.from_keywords("Hello?", {}))
    call = session.start(turn)
    reader = threading.Thread(target=call.run_keeping_errors)
    reader.start()
    reader.join(30)
    call.stop()  # e.g. stop_all racing the end of the answer
    assert call.answer.ended is Outcome.COMPLETE and call.answer.text == "All of it."
    session.finish(turn)
