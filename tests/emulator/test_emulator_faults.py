"""The faults the emulator injects, as a client receives them."""

from __future__ import annotations

import base64
import json
import threading
import time
from typing import Any

import httpx
import pytest
from emulator_http import (
    AUTH,
    HELLO,
    chunks,
    deltas,
    joined,
    native_url,
    openai_url,
    stream,
    stream_body,
)
from waiting import wait_until

from kimi_magic.core.constants import MODEL_ID
from kimi_magic.emulator import Emulator, Reply

# -- faults -----------------------------------------------------------------------------------


def test_http_error_with_retry_after(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.http_error(429, 3040, retry_after=2))
    r = http.post(native_url(emulator), headers=AUTH, json=stream_body())
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.headers["content-type"] == "application/json"
    error = r.json()["errors"][0]
    assert error["code"] == 3040 and error["message"].startswith("AiError: ")
    assert r.json()["success"] is False
    again = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert again.status_code == 200, "each request takes one scripted reply"


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        ({"code": 3036}, 429, 3036),
        ({"code": 5035}, 403, 5035),
        ({"code": 3007}, 408, 3007),
        ({"status": 503}, 503, 3043),
        ({"status": 413}, 413, 3006),
        ({"status": 500, "code": 3040, "message": "AiError: busy"}, 500, 3040),
    ],
)
def test_http_error_statuses_and_codes(
    emulator: Emulator, http: httpx.Client, fault: dict[str, Any], status: int, code: int
) -> None:
    emulator.script({"fault": {"type": "http_error", **fault}})
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == status
    assert r.json()["errors"][0]["code"] == code
    assert "retry-after" not in r.headers


def test_openai_shaped_error(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.openai_error(400, "max_tokens is too large"))
    r = http.post(openai_url(emulator), headers=AUTH, json={**HELLO, "model": MODEL_ID})
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["message"] == "max_tokens is too large"
    assert error["type"] == "invalid_request_error"
    assert "code" in error


def test_json_error_with_status_200_to_a_stream_request(
    emulator: Emulator, http: httpx.Client
) -> None:
    emulator.script(Reply.json_error_200(3040))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        body = json.loads(r.read())
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert body["success"] is False and body["errors"][0]["code"] == 3040


def test_disconnect_mid_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("disconnect", after_chunks=3, content="abcdefghijklmnop"))
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r,
    ):
        received.extend(line for line in r.iter_lines() if line)
    assert len(received) == 3
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 200


def test_disconnect_before_a_plain_response(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("disconnect"))
    with pytest.raises(httpx.RemoteProtocolError):
        http.post(native_url(emulator), headers=AUTH, json=HELLO)


def test_malformed_event_then_the_stream_goes_on(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("malformed", after_chunks=2, content="abcdefgh"))
    _, payloads = stream(http, emulator)
    assert payloads[2] == "{not json"
    assert payloads[-1] == "[DONE]"
    good = [p for p in payloads if p != "{not json"]
    assert joined(good, "content") == "abcdefgh"


def test_stream_error_event_ends_the_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(
        Reply.fault("stream_error", 2, message="AiError: model crashed", content="ab" * 8)
    )
    _, payloads = stream(http, emulator)
    assert len(payloads) == 3
    assert json.loads(payloads[-1])["error"]["message"] == "AiError: model crashed"


@pytest.mark.parametrize("after_chunks", [None, 2])
def test_no_done_ends_cleanly_without_finish(
    emulator: Emulator, http: httpx.Client, after_chunks: int | None
) -> None:
    emulator.script(Reply.fault("no_done", after_chunks, content="abcdefghijkl"))
    _, payloads = stream(http, emulator)  # read to the end without a protocol error
    assert "[DONE]" not in payloads
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks(payloads))
    assert len(payloads) == (3 if after_chunks is None else 2)


def test_stall_mid_stream(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("stall", after_chunks=1, seconds=0.3, content="abcdefgh"))
    stamps: list[float] = []
    lines: list[str] = []
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        for line in r.iter_lines():
            if line:
                stamps.append(time.monotonic())
                lines.append(line)
    # The pause falls between the first and second events (a lower bound, safe under load),
    # and then the whole answer follows.
    assert stamps[1] - stamps[0] >= 0.25
    payloads = [line.removeprefix("data: ") for line in lines]
    assert payloads[-1] == "[DONE]"
    assert "".join(d.get("content", "") for d in deltas(payloads)) == "abcdefgh"


def test_stall_before_headers(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.fault("stall", seconds=0.3))
    started = time.monotonic()
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.25
    with pytest.raises(httpx.ReadTimeout):
        emulator.script(Reply.fault("stall", seconds=1))
        http.post(native_url(emulator), headers=AUTH, json=HELLO, timeout=0.2)


def test_client_hanging_up_mid_stream_is_harmless(emulator: Emulator, http: httpx.Client) -> None:
    emulator.script(Reply.text("x" * 200, chunk_chars=1, rate=200))
    before = set(threading.enumerate())
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        for line in r.iter_lines():
            if line:
                break
    # The server notices on a later write, and its handler ends; the fixture fails the test if
    # it raised.
    wait_until(
        lambda: (
            not [
                t for t in threading.enumerate() if t not in before and "process_request" in t.name
            ]
        ),
        "the emulator's handler of the abandoned stream to end",
    )
    assert http.post(native_url(emulator), headers=AUTH, json=HELLO).status_code == 200


def test_raw_chunks_are_sent_as_written(emulator: Emulator, http: httpx.Client) -> None:
    event = 'data: {"choices":[{"index":0,"delta":{"content":"é"}}]}\n\n'.encode()
    cut = event.index("é".encode()) + 1  # inside the two bytes of "é"
    writes = [event[:cut], event[cut:], b"data: [DONE]\n\n"]
    emulator.script(Reply.raw(writes, status=200, content_type="text/event-stream; charset=utf-8"))
    with http.stream("POST", native_url(emulator), headers=AUTH, json=stream_body()) as r:
        raw = r.read()
    assert r.headers["content-type"] == "text/event-stream; charset=utf-8"
    assert raw == b"".join(writes)


def test_raw_chunks_with_an_error_status(emulator: Emulator, http: httpx.Client) -> None:
    chunk = base64.b64encode(b"upstream gone").decode()
    emulator.script({"raw_chunks_b64": [chunk], "status": 502, "content_type": "text/plain"})
    r = http.post(native_url(emulator), headers=AUTH, json=HELLO)
    assert (r.status_code, r.text) == (502, "upstream gone")
