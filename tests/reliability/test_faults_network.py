"""The fault matrix, network side: cuts at every point of a stream, stalls and trickles."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from _checks import assert_next_call_works, assert_one_paragraph
from _faults import (
    CUT,
    DONE,
    LAST_CHUNK,
    RESET,
    FaultServer,
    Step,
    answer_events,
    as_chunk,
    event,
    finish_events,
    head,
    stream_reply,
)
from matrix import CUT_CASES, WORDS, Case, case
from waiting import HANG_GUARD_S, finishes, wait_until

from kimi_magic import APIConnectionError, APITimeoutError, Kimi, StreamError

EVENTS = answer_events(WORDS)
FINISH = finish_events()


def _prefix(point: str) -> bytes:
    """The stream's bytes up to the cut point."""
    if point == "before-first-event":
        return b""
    if point == "inside-first-event":
        return EVENTS[0][:12]
    if point == "inside-event":
        return EVENTS[0] + EVENTS[1][:15]
    if point == "inside-character":
        third = EVENTS[2]
        return EVENTS[0] + EVENTS[1] + third[: third.index("✓".encode()) + 1]
    if point == "after-last-content":
        return b"".join(EVENTS)
    assert point == "before-done"
    return b"".join(EVENTS + FINISH)


def _cut_reply(mode: str, point: str) -> list[Step]:
    if point == "before-headers":
        return [RESET if mode == "reset" else CUT]
    body = _prefix(point)
    if mode == "chunked":
        return [head(chunked=True), *([as_chunk(body)] if body else []), 0.05, CUT]
    # A reset throws away what the client has not read yet: let it read first.
    return [head(), body, *([0.2, RESET] if mode == "reset" else [CUT])]


@pytest.mark.parametrize("c", CUT_CASES, ids=[c.id for c in CUT_CASES])
def test_a_cut_stream(c: Case, fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    mode, point = c.params["mode"], c.params["point"]
    fault.script(_cut_reply(mode, point))
    client = make_client()
    if point == "before-headers":
        with pytest.raises(APIConnectionError) as caught:
            client.ask("Which plot?")
        assert_one_paragraph(caught.value, "broke before the server replied", "run the cell")
    elif c.params["whole"]:
        answer = client.ask("Which plot?")
        assert answer.text == c.params["kept"] and answer.complete
        assert answer.finish_reason == "stop" and answer.usage.completion_tokens == 5
    else:
        with pytest.raises(StreamError) as caught:
            client.ask("Which plot?")
        kept = c.params["kept"]
        where = "in the middle of the answer" if kept else "before any of the answer arrived"
        what = "stream ended before" if mode == "eof" else "connection broke"
        assert_one_paragraph(caught.value, what, where)
        answer = caught.value.answer
        assert answer is not None and answer.text == kept and answer.truncated
    assert_next_call_works(client)


@case(
    "cut",
    "before-headers-retried",
    "The first connection ends before any headers; the retry gets a whole answer.",
    "the whole answer, after one silent retry; nothing about the failure is shown",
)
def test_a_connection_dropped_before_headers_is_retried(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script([CUT], stream_reply("Fine."))
    client = make_client(max_retries=2)
    assert client.ask("Which plot?").text == "Fine."
    assert len(fault.requests) == 2


# -- stalls and trickles ----------------------------------------------------------------------


# Longer than the hang guard: a client that waited such a stall out would fail the test.
STALL_S = 10 * HANG_GUARD_S


def _trickle(data: bytes, every: float) -> list[Step]:
    steps: list[Step] = []
    for position in range(len(data)):
        steps += [data[position : position + 1], every]
    return steps


@case(
    "stall",
    "stall-before-headers",
    "The server accepts the request and says nothing for longer than read_timeout.",
    "one paragraph after read_timeout: the server accepted the request but sent nothing; "
    "raise read_timeout; no retry (it would double the wait)",
)
def test_a_stall_before_the_headers(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script([STALL_S, CUT])  # a stall no client could wait out within the hang guard
    client = make_client(read_timeout=0.5, max_retries=3)
    with pytest.raises(APITimeoutError) as caught:
        finishes(lambda: client.ask("Which plot?"), "a call to a silent server")
    wait_until(lambda: fault.requests[-1]["left_during_pause"], "the client to hang up mid-stall")
    assert_one_paragraph(caught.value, "sent nothing before the read timeout", "read_timeout")
    assert len(fault.requests) == 1
    assert_next_call_works(client)


@pytest.mark.parametrize(
    ("prefix", "kept"),
    [(b"", ""), (EVENTS[0], "Plot ")],
    ids=["before-first-event", "mid-answer"],
)
def test_a_stall_after_the_headers(
    prefix: bytes, kept: str, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script([head(), prefix, 3.0, CUT])
    client = make_client(read_timeout=0.5)
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    where = "in the middle of the answer" if kept else "before any of the answer arrived"
    assert_one_paragraph(caught.value, "went quiet for longer than the read timeout", where)
    assert caught.value.answer is not None and caught.value.answer.text == kept
    assert caught.value.answer.truncated
    assert_next_call_works(client)


case(
    "stall",
    "stall-before-first-event",
    "Headers arrive, then nothing for longer than read_timeout.",
    "one paragraph: the server went quiet before any of the answer arrived; raise "
    "read_timeout; the next call works",
)(None)
case(
    "stall",
    "stall-mid-answer",
    "Part of the answer arrives, then nothing for longer than read_timeout.",
    "one paragraph: quiet in the middle of the answer; what arrived is kept, marked truncated",
)(None)


@case(
    "stall",
    "trickle-a-byte-at-a-time",
    "The server sends the answer a byte every 50 ms, never tripping read_timeout; "
    "call_timeout is 1 s.",
    "one paragraph after about 1 s: the call took longer than its time limit "
    "(call_timeout = 1 s); what arrived is kept; how to raise the limit",
)
def test_a_trickle_is_ended_by_call_timeout(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script([head(), EVENTS[0], *_trickle(b"".join(EVENTS[1:] + FINISH) + DONE, 0.05)])
    client = make_client(read_timeout=5, call_timeout=1)
    with pytest.raises(StreamError) as caught:
        finishes(lambda: client.ask("Which plot?"), "a call to a trickling server")
    # The client hung up between two bytes of the trickle: it did not wait for the end.
    wait_until(lambda: fault.requests[-1]["left_during_pause"], "the client to hang up mid-trickle")
    assert_one_paragraph(caught.value, "call_timeout = 1 s", "in the middle of the answer")
    assert caught.value.answer is not None and caught.value.answer.text.startswith("Plot ")
    assert_next_call_works(client)


@case(
    "stall",
    "keep-alive-comments-only",
    "The server sends only SSE keep-alive comments, every 100 ms; call_timeout is 1 s.",
    "one paragraph after about 1 s: the call took longer than its time limit, before any of "
    "the answer arrived",
)
def test_keep_alive_comments_forever(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script([head(), *[b": keep-alive\n\n", 0.1] * 40])
    client = make_client(read_timeout=5, call_timeout=1)
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "time limit", "before any of the answer arrived")
    assert_next_call_works(client)


@case(
    "stall",
    "slow-but-in-time",
    "Every event comes 100 ms after the last (read_timeout 1 s, call_timeout 5 s).",
    "the whole answer: slowness inside the limits is no fault",
)
def test_a_slow_stream_within_the_limits(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    steps: list[Any] = [head()]
    for piece in [*EVENTS, *FINISH, DONE]:
        steps += [piece, 0.1]
    fault.script(steps)
    answer = make_client(read_timeout=1, call_timeout=5).ask("Which plot?")
    assert answer.text == "".join(WORDS) and answer.complete


@case(
    "stall",
    "call-timeout-before-headers",
    "The server says nothing; call_timeout (1 s) is shorter than read_timeout (30 s).",
    "one paragraph after about 1 s (not 30): sent nothing before the read timeout or the "
    "call's time limit",
)
def test_call_timeout_bounds_the_wait_for_headers(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script([STALL_S, CUT])
    client = make_client(read_timeout=30, call_timeout=1)
    with pytest.raises(APITimeoutError) as caught:
        finishes(lambda: client.ask("Which plot?"), "a call to a silent server")
    wait_until(lambda: fault.requests[-1]["left_during_pause"], "the client to hang up mid-stall")
    assert_one_paragraph(caught.value, "call_timeout")
    assert_next_call_works(client)


@case(
    "cut",
    "chunked-answer-then-last-chunk",
    "A chunked stream with [DONE] and the terminating chunk, cut through characters.",
    "the whole answer (the control: nothing wrong)",
)
def test_a_chunked_stream_cut_through_characters(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    blob = b"".join([*EVENTS, *FINISH, DONE])
    fault.script(
        [
            head(chunked=True),
            *[as_chunk(blob[i : i + 3]) for i in range(0, len(blob), 3)],
            LAST_CHUNK,
        ]
    )
    assert make_client().ask("Which plot?").text == "".join(WORDS)


@case(
    "cut",
    "event-without-blank-line-at-eof",
    "The last content event is not closed by a blank line before the connection ends.",
    "one paragraph: the stream ended before the answer was finished; the unfinished event is "
    "dropped, earlier text kept",
)
def test_an_unterminated_last_event(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script([head(), EVENTS[0], event({"x": 1})[:-1], CUT])
    client = make_client()
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "stream ended before")
    assert caught.value.answer is not None and caught.value.answer.text == "Plot "
    assert_next_call_works(client)


@pytest.mark.parametrize("headers", [False, True], ids=["before-headers", "after-headers"])
def test_a_stopped_stall_ends_its_reader_at_once(
    headers: bool, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    """Stop (or an interrupt) during a stall: the thread reading the stream ends now, not
    at read_timeout (here longer than the hang guard); it is not left alive in the kernel."""
    import threading

    fault.script([head(), STALL_S, CUT] if headers else [STALL_S, CUT])
    client = make_client(read_timeout=STALL_S, max_retries=3)
    call = client.stream([{"role": "user", "content": "Which plot?"}])
    reader = threading.Thread(target=call.run_keeping_errors, name="kimi-magic-stream")
    reader.start()
    wait_until(lambda: fault.requests, "the request to arrive")
    call.stop()
    finishes(reader.join, "the stopped call's reader")
    assert not reader.is_alive()
    wait_until(lambda: fault.requests[-1]["left_during_pause"], "the client to hang up mid-stall")
    assert len(fault.requests) == 1  # a stop is not retried
    assert call.answer.interrupted
    assert_next_call_works(client)
