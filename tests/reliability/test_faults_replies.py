"""The fault matrix, reply side: error statuses and bodies, 200 + JSON errors, malformed and
unknown events, huge answers, rate limits and retries."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest
from _canary import CANARY
from _checks import assert_next_call_works, assert_one_paragraph
from _faults import (
    DONE,
    FaultServer,
    answer_events,
    cloudflare_body,
    delta,
    error_reply,
    event,
    finish_events,
    head,
    html_body,
    openai_body,
    stream_reply,
)
from matrix import STATUS_CASES, Case, case
from waiting import finishes

from kimi_magic import APIStatusError, Kimi, StreamError
from kimi_magic.core.errors import advice_for
from kimi_magic.core.types import Retrying

SERVER_WORDS = "Upstream model host unavailable"


def _body(kind: str, status: int, code: int | None) -> tuple[bytes, str]:
    if kind == "cloudflare":
        return cloudflare_body(code, f"AiError: {SERVER_WORDS}"), "application/json"
    if kind == "openai":
        return openai_body(code, SERVER_WORDS), "application/json"
    if kind == "html":
        return html_body(f"{status} {SERVER_WORDS}"), "text/html"
    return SERVER_WORDS.encode(), "text/plain"


@pytest.mark.parametrize("c", STATUS_CASES, ids=[c.id for c in STATUS_CASES])
def test_an_error_status(c: Case, fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    from matrix import STATUS_CODES

    status, kind = c.params["status"], c.params["body"]
    code = STATUS_CODES[status] if kind in ("cloudflare", "openai") else None
    body, content_type = _body(kind, status, code)
    fault.script(error_reply(status, body, content_type, {"Retry-After": "0"}))
    client = make_client()
    with pytest.raises(APIStatusError) as caught:
        client.ask("Which plot?")
    error = caught.value
    text = assert_one_paragraph(error, advice_for(status, code), f"HTTP {status}", SERVER_WORDS)
    assert error.status == status and error.code == code
    assert "AiError" not in text and "<" not in text, text
    if kind == "html":
        assert f"HTML error page ({status} {SERVER_WORDS})" in text
    assert_next_call_works(client)


# -- 200 with a JSON error, or the wrong kind of body -----------------------------------------


@case(
    "json200",
    "capacity-3040-retried",
    "A stream request is answered 200 application/json {success: false, code 3040}, then "
    "a good stream.",
    "the whole answer after one retry; the live view said 'out of capacity: retrying'",
)
def test_200_capacity_error_is_retried(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script(error_reply(200, cloudflare_body(3040, "Capacity temporarily exceeded")))
    client = make_client(max_retries=2)
    seen = list(client.stream([{"role": "user", "content": "hi"}]))
    retries = [e for e in seen if isinstance(e, Retrying)]
    assert retries and retries[0].reason == "out of capacity" and retries[0].attempt == 2


@pytest.mark.parametrize(
    ("body", "phrases"),
    [
        (cloudflare_body(3040, "Capacity temporarily exceeded"), ["out of capacity", "3040"]),
        (openai_body(None, "The model is overloaded"), ["The model is overloaded", "HTTP 200"]),
        (json.dumps({"success": False, "errors": []}).encode(), ["HTTP 200"]),
    ],
    ids=["cloudflare-3040", "openai-error", "success-false-no-errors"],
)
def test_200_with_a_json_error(
    body: bytes, phrases: list[str], fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script(error_reply(200, body))
    client = make_client()
    with pytest.raises(APIStatusError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, *phrases)
    assert_next_call_works(client)


for _id, _fault, _sees in [
    (
        "json-error-cloudflare-3040",
        "200 + Cloudflare 3040 envelope, retries off.",
        "one paragraph: out of capacity, wait a minute (HTTP 200, Cloudflare error 3040)",
    ),
    (
        "json-error-openai",
        "200 + OpenAI-shaped {error: {message}}.",
        "one paragraph with the server's message (HTTP 200)",
    ),
    (
        "json-error-no-errors",
        "200 + {success: false, errors: []}.",
        "one paragraph: the server answered with an error (HTTP 200)",
    ),
]:
    case("json200", _id, _fault, _sees)(None)


@case(
    "json200",
    "whole-completion-to-a-stream",
    "A stream request is answered with a whole (non-streamed) chat.completion in JSON.",
    "the whole answer, as if streamed",
)
def test_a_whole_completion_answers_a_stream_request(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    completion = {
        "result": {
            "id": "c1",
            "choices": [{"index": 0, "message": {"content": "Whole."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 3, "completion_tokens": 1},
        },
        "success": True,
    }
    fault.script(error_reply(200, json.dumps(completion).encode()))
    answer = make_client().ask("Which plot?")
    assert answer.text == "Whole." and answer.complete


@case(
    "json200",
    "html-200-to-a-stream",
    "A stream request is answered 200 text/html (a captive portal or proxy login page).",
    "one paragraph: the reply was not JSON, check the base URL",
)
def test_an_html_page_with_200(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script(error_reply(200, html_body("Sign in to the network"), "text/html"))
    client = make_client()
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "not JSON", "base URL")
    assert_next_call_works(client)


# -- malformed and unknown events --------------------------------------------------------------

GOOD = answer_events(["Plot "])
MALFORMED = {
    # id: (bad event bytes, phrase, what the matrix says)
    "not-json": (b"data: {not json\n\n", "not valid JSON", "an event that is not JSON"),
    "event-error": (
        b"event: error\ndata: model crashed\n\n",
        "reported an error in the middle of the answer",
        "an `event: error` event",
    ),
    "in-stream-cloudflare-error": (
        event({"success": False, "errors": [{"code": 3040, "message": "AiError: overloaded"}]}),
        'Cloudflare error 3040): "overloaded"',
        "a Cloudflare error envelope as an event",
    ),
    "in-stream-openai-error": (
        event({"error": {"message": "context overflow"}}),
        '"context overflow"',
        "an OpenAI-shaped {error} event",
    ),
    "choices-not-a-list-of-objects": (
        event({"choices": [None, "x"]}),
        "unexpected shape",
        "choices holding null and a string",
    ),
    "delta-a-string": (
        event({"choices": [{"index": 0, "delta": "text"}]}),
        "unexpected shape",
        "a delta that is a string",
    ),
    "usage-not-numbers": (
        event({"usage": {"prompt_tokens": "many"}}),
        "unexpected shape",
        "usage with a non-numeric count",
    ),
    "tool-call-index-text": (
        event({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "first"}]}}]}),
        "unexpected shape",
        "a tool call whose index is text",
    ),
    "json-but-a-list": (b"data: [1, 2]\n\n", "not valid JSON", "a JSON list, not an object"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_a_malformed_event_mid_answer(
    name: str, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    bad, phrase, _ = MALFORMED[name]
    fault.script([head(), *GOOD, bad, *finish_events(), DONE])
    client = make_client()
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, phrase)
    assert caught.value.answer is not None and caught.value.answer.text == "Plot "
    assert caught.value.answer.truncated
    assert_next_call_works(client)


for _name, (_bad, _phrase, _what) in MALFORMED.items():
    case(
        "events",
        _name,
        f"After 'Plot ', {_what} arrives mid-answer.",
        f"one paragraph ('{_phrase}'); 'Plot ' kept, marked truncated; the next call works",
    )(None)


UNKNOWN = {
    "named-event-ping": b"event: ping\ndata: {}\n\n",
    "comment-lines": b": keep-alive\n:\n\n",
    "unknown-fields": event({**delta("the "), "x_vendor": {"a": 1}, "system_fingerprint": "f"}),
    "id-and-retry-fields": b"id: 7\nretry: 1000\n" + event(delta("the ")),
    "empty-data": b"data:\n\n",
    "crlf-line-ends": event(delta("the ")).replace(b"\n", b"\r\n"),
}


@pytest.mark.parametrize("name", list(UNKNOWN))
def test_an_unknown_event_is_ignored(
    name: str, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script([head(), *GOOD, UNKNOWN[name], *answer_events(["end"]), *finish_events(), DONE])
    answer = make_client().ask("Which plot?")
    assert answer.complete and answer.text.startswith("Plot ") and answer.text.endswith("end")


for _name in UNKNOWN:
    case(
        "events",
        _name,
        f"An event the client does not know ({_name.replace('-', ' ')}) mid-answer.",
        "the whole answer: what is not understood is skipped",
    )(None)


# -- huge answers -----------------------------------------------------------------------------


@case(
    "huge",
    "many-small-events",
    "An answer of 20,000 events (about 200 KB).",
    "the whole answer, every character in order",
)
def test_an_answer_of_many_events(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    words = [f"w{n} " for n in range(20_000)]
    fault.script([head(), b"".join(answer_events(words)), *finish_events(), DONE])
    answer = make_client().ask("Go")
    assert answer.text == "".join(words) and answer.complete


@case(
    "huge",
    "one-huge-event",
    "One event of 2 MB of text (multi-byte characters included).",
    "the whole answer",
)
def test_one_huge_event(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    text = "ü€" * 350_000 + "end"
    fault.script([head(), event(delta(text)), *finish_events(), DONE])
    assert make_client().ask("Go").text == text


@case(
    "huge",
    "huge-reasoning-then-answer",
    "1 MB of reasoning before a short answer.",
    "the reasoning and the answer, both whole",
)
def test_huge_reasoning(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    thought = "think " * 170_000
    fault.script([head(), *answer_events(["Done."], [thought]), *finish_events(), DONE])
    answer = make_client().ask("Go")
    assert answer.reasoning == thought and answer.text == "Done."


# -- rate limits and retries --------------------------------------------------------------------


@case(
    "ratelimit",
    "retry-after-999999",
    "HTTP 429 with Retry-After: 999999.",
    "one paragraph at once (not minutes): the server asked to wait 999,999 s, more than "
    "kimi_magic waits for one call (60 s in all); nothing more was sent",
)
def test_a_huge_retry_after_is_not_waited_for(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script(
        error_reply(429, cloudflare_body(None, "Rate limited"), headers={"Retry-After": "999999"})
    )
    client = make_client(max_retries=3)
    with pytest.raises(APIStatusError) as caught:  # a wait of 999,999 s would trip the guard
        finishes(lambda: client.ask("Which plot?"), "a call told to retry after 999,999 s")
    assert_one_paragraph(caught.value, "999,999 s", "60 s in all", "Too many requests")
    assert len(fault.requests) == 1
    assert_next_call_works(client)


@case(
    "ratelimit",
    "retry-event-then-answer",
    "HTTP 429 with Retry-After: 1, then a good stream.",
    "a Retrying event (rate limited: retrying in 1 s, attempt 2 of 4) shown by the live view "
    "and printed in a terminal, then the whole answer",
)
def test_a_rate_limit_wait_is_announced(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    from kimi_magic.render.render_text import stream_to_stdout

    fault.script(
        error_reply(429, cloudflare_body(None, "Rate limited"), headers={"Retry-After": "1"})
    )
    client = make_client(max_retries=3)
    out = io.StringIO()
    answer = stream_to_stdout(client.stream([{"role": "user", "content": "hi"}]), out)
    assert answer.text == "OK"
    assert "[rate limited: retrying in 1 s, attempt 2 of 4]" in out.getvalue()


@case(
    "ratelimit",
    "live-view-countdown",
    "The live view receives a Retrying event while waiting for the first token.",
    "its footer reads 'rate limited: retrying in 20 s, attempt 2 of 4', counting down",
)
def test_the_live_view_shows_the_wait() -> None:
    from kimi_magic.core.types import Usage
    from kimi_magic.render.live_view import LiveView

    view = LiveView()
    try:
        view.show_retrying(Retrying(2, 4, 20.0, "rate limited"))
        assert "rate limited: retrying in 20 s, attempt 2 of 4" in view.footer.value
        view.render(Usage())
        assert "rate limited: retrying in 20 s, attempt 2 of 4" in view.footer.value
    finally:
        view.close()


@case(
    "ratelimit",
    "total-wait-capped",
    "HTTP 503 with Retry-After: 1, three times, with the total wait capped at 1.5 s.",
    "one paragraph after one wait: the next wait would pass the cap, which the message names",
)
def test_the_total_wait_is_capped(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    busy = error_reply(503, cloudflare_body(None, "busy"), headers={"Retry-After": "1"})
    fault.script(busy, busy, busy)
    client = make_client(max_retries=3, max_retry_wait=1.5)
    with pytest.raises(APIStatusError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "1.5 s in all")
    assert len(fault.requests) == 2
    fault.reset()
    assert_next_call_works(client)


@case(
    "ratelimit",
    "retries-exhausted",
    "HTTP 502 four times with Retry-After: 0.",
    "one paragraph: the server error, and that kimi_magic tried 4 times",
)
def test_exhausted_retries_say_so(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    bad = error_reply(502, html_body("502 Bad Gateway"), "text/html", {"Retry-After": "0"})
    fault.script(bad, bad, bad, bad)
    client = make_client(max_retries=3)
    with pytest.raises(APIStatusError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "tried 4 times", "502 Bad Gateway")
    assert_next_call_works(client)


@case(
    "secrets",
    "error-echoes-authorization",
    "An error reply echoes the request's Authorization header in its message.",
    "one paragraph with [redacted] where the token was: in str(), server_message and every "
    "attribute (vars())",
)
def test_an_echoed_token_is_redacted_everywhere(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    echoed = cloudflare_body(10000, "bad header: Authorization: {auth}")
    fault.script(error_reply(403, echoed, sized=False))
    client = make_client()
    with pytest.raises(APIStatusError) as caught:
        client.ask("Which plot?")
    error = caught.value
    assert_one_paragraph(error, "[redacted]")
    assert CANARY not in error.server_message and "[redacted]" in error.server_message
    assert all(CANARY not in str(v) for v in vars(error).values())
    assert all(CANARY not in str(a) for a in error.args)


@case(
    "json200",
    "stream-with-retry-before-first-byte",
    "A stream whose connection is refused by a 503 first, then answers.",
    "the whole answer; retrying happened before the first byte only",
)
@case(
    "secrets",
    "echoed-token-cut-at-300-characters",
    "A plain-text error body echoes the Authorization header after 280 characters, so the "
    "message cut would run through the token.",
    "one paragraph with no piece of the token: the body is redacted before it is cut",
)
def test_a_token_cut_by_the_message_length_is_still_redacted(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    body = b"x" * 280 + b" Authorization: {auth}"
    fault.script(error_reply(400, body, "text/plain", sized=False))
    with pytest.raises(APIStatusError) as caught:
        make_client().ask("Which plot?")
    assert_one_paragraph(caught.value)
    assert CANARY[:3] not in str(caught.value).split("Bearer")[-1]


def test_a_503_then_a_stream(fault: FaultServer, make_client: Callable[..., Kimi]) -> None:
    fault.script(
        error_reply(503, b"busy", "text/plain", {"Retry-After": "0"}), stream_reply("Yes.")
    )
    assert make_client(max_retries=1).ask("Which plot?").text == "Yes."


ODD_RETRY_AFTER = ["nan", "inf", "-5", "soon", "Wed, 21 Oct 2015 07:28:00 GMT"]


@pytest.mark.parametrize("value", ODD_RETRY_AFTER)
def test_an_odd_retry_after(
    value: str, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script(
        error_reply(503, b"busy", "text/plain", {"Retry-After": value}), stream_reply("Yes.")
    )
    client = make_client(max_retries=1)
    events = finishes(
        lambda: list(client.stream([{"role": "user", "content": "hi"}])),
        f"a call told to retry after {value!r}",
    )
    # The wait the client announced (and slept) is a short one.
    waits = [e for e in events if isinstance(e, Retrying)]
    assert len(waits) == 1 and 0 <= waits[0].delay < 2, waits
    assert "nan" not in waits[0].describe() and "inf" not in waits[0].describe()
    assert len(fault.requests) == 2


for _value in ODD_RETRY_AFTER:
    case(
        "ratelimit",
        f"retry-after-{_value.split(',')[0].lower()}",
        f"HTTP 503 with Retry-After: {_value}, then a good stream.",
        "a short backoff (a value no server means is ignored, a past date is 'now'), announced "
        "with a finite delay; then the whole answer",
    )(None)


WRONG_COMPLETIONS = {
    "choices-null-items": {"choices": [None]},
    "message-a-string": {"choices": [{"index": 0, "message": "hi"}]},
    "usage-text": {"choices": [], "usage": {"prompt_tokens": "lots"}},
}


@pytest.mark.parametrize("name", list(WRONG_COMPLETIONS))
def test_a_whole_reply_of_the_wrong_shape(
    name: str, fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    fault.script(error_reply(200, json.dumps(WRONG_COMPLETIONS[name]).encode()))
    client = make_client()
    with pytest.raises(StreamError) as caught:
        client.ask("Which plot?")
    assert_one_paragraph(caught.value, "not a chat completion", "base URL")
    assert_next_call_works(client)


for _name in WRONG_COMPLETIONS:
    case(
        "json200",
        f"whole-reply-{_name}",
        f"A 200 JSON reply that is no chat completion ({_name.replace('-', ' ')}).",
        "one paragraph: JSON but not a chat completion, check the base URL (was an "
        "AttributeError or ValueError)",
    )(None)


@case(
    "secrets",
    "python-api-token-in-prompt",
    "`Kimi().ask(...)` with the configured token in the prompt, the system prompt and a "
    "metadata value (no prompt layer in between).",
    "the request body holds [redacted: the API token] in each place; the token is not sent",
)
def test_the_client_never_sends_its_token(
    fault: FaultServer, make_client: Callable[..., Kimi]
) -> None:
    client = make_client()
    client.ask(f"is {CANARY} right?", system=f"key {CANARY}", metadata={"k": CANARY})
    sent = json.dumps(fault.requests[-1]["json"])
    assert CANARY not in sent and sent.count("[redacted: the API token]") == 3
