"""Error replies and retries from the foreign server: one paragraph each, retried where it helps."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest
from foreign_server import (
    ForeignServer,
    Reply,
    chunks,
    completion,
    error_reply,
    json_reply,
    sse,
)
from waiting import finishes

from kimi_magic import APIStatusError, Kimi
from kimi_magic.core.types import Retrying, TextDelta

# -- errors and retries -----------------------------------------------------------------------

ERRORS = {
    "401 OpenAI-shaped": (error_reply(401, 10000, "Unauthorized", openai=True), "API token"),
    "403 paid plan": (error_reply(403, 5035, "Workers Paid plan needed"), "Workers Paid"),
    "404 bad account": (error_reply(404, 7003, "No route"), "CLOUDFLARE_ACCOUNT_ID"),
    "413 too large": (error_reply(413, 3006, "Request too large", openai=True), "too large"),
    "429 daily allocation": (error_reply(429, 3036, "Daily limit"), "daily free"),
    "400 invalid input": (error_reply(400, 8001, "Bad input", openai=True), "invalid input"),
    "400 unknown model": (error_reply(400, 5007, "No such model"), "does not know this model"),
}


@pytest.mark.parametrize("reply, advice", ERRORS.values(), ids=list(ERRORS))
def test_an_error_is_one_paragraph_and_not_retried(
    kimi: Kimi, server: ForeignServer, reply: Reply, advice: str
) -> None:
    server.script(reply)
    with pytest.raises(APIStatusError) as caught:
        kimi.ask("hi")
    message = str(caught.value)
    assert advice in message and f"HTTP {reply.status}" in message
    assert "AiError" not in message and caught.value.server_message
    assert len(server.requests) == 1


def test_capacity_errors_in_every_shape_are_retried(kimi: Kimi, server: ForeignServer) -> None:
    in_a_second = formatdate(time.time() + 1, usegmt=True)
    server.script(
        error_reply(429, 3040, "Capacity temporarily exceeded", **{"Retry-After": in_a_second}),
        error_reply(200, 3040, "Capacity temporarily exceeded"),  # 200 + JSON to a stream
        error_reply(503, None, "Service unavailable", openai=True, **{"Retry-After": "0"}),
        Reply(sse(chunks("Finally.")), framing="chunked"),
    )
    events = finishes(lambda: list(kimi.stream([{"role": "user", "content": "hi"}])), "the call")
    text = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert text == "Finally." and len(server.requests) == 4
    # Each wait the client announced (and then slept) is the short one the server asked for:
    # the HTTP date a second ahead, a backoff, and zero.
    waits = [e.delay for e in events if isinstance(e, Retrying)]
    assert len(waits) == 3 and all(0 <= delay <= 2 for delay in waits), waits


def test_a_connection_closed_without_a_reply_is_retried(kimi: Kimi, server: ForeignServer) -> None:
    server.script(Reply([], drop=True), Reply(sse(chunks("Here.")), framing="chunked"))
    assert kimi.ask("hi").text == "Here." and len(server.requests) == 2


def test_retries_give_up_with_the_capacity_advice(kimi: Kimi, server: ForeignServer) -> None:
    busy = error_reply(429, 3040, "Capacity temporarily exceeded", **{"Retry-After": "0"})
    server.script(*[busy] * 5)
    with pytest.raises(APIStatusError) as caught:
        kimi.ask("hi")
    assert "out of capacity" in str(caught.value) and caught.value.code == 3040
    assert len(server.requests) == kimi.max_retries + 1


def test_a_whole_reply_request_is_retried_after_a_200_capacity_error(
    kimi: Kimi, server: ForeignServer
) -> None:
    server.script(
        error_reply(200, 3040, "Capacity temporarily exceeded"),
        json_reply({"result": completion("Done."), "success": True, "errors": []}),
    )
    assert kimi.ask("hi", stream=False).text == "Done."
    assert len(server.requests) == 2
