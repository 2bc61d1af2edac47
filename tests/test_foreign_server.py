"""The client against a foreign Workers AI server, written from design.md section 4 alone.

Not our emulator: a raw-socket HTTP server that takes every liberty the protocol allows
(close-delimited HTTP/1.0 streams, chunked and gzip streams, CRLF, keep-alive comments,
`reasoning_content` only, usage on every chunk, the trailing `{"response": ""}` event, OpenAI-shaped
errors, 200 + JSON errors to a stream, Retry-After as a date, `[DONE]` with the connection held
open, no cf-ray), so the client is not coupled to the emulator's habits.
"""

from __future__ import annotations

import json
import os
import re
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from IPython.core.interactiveshell import InteractiveShell

import kimi_magic
from kimi_magic import APIStatusError, Kimi, StreamError
from kimi_magic.api.endpoint import Endpoint

ACCOUNT = "f0reign0account"
TOKEN = "foreign-token-123456"
MODEL = "@cf/moonshotai/kimi-k2.6"
_MODEL_PATH = r"(?:@|%40)cf/moonshotai/kimi-k2\.6"
_ROUTES = [  # (path pattern, whether the body must name the model)
    (re.compile(rf"/client/v4/accounts/{ACCOUNT}/ai/run/{_MODEL_PATH}"), False),
    (re.compile(rf"/client/v4/accounts/{ACCOUNT}/ai/v1/chat/completions"), True),
    (re.compile(rf"/gw/v1/{ACCOUNT}/my-gw/workers-ai/(?:run/)?{_MODEL_PATH}"), False),
    (re.compile(rf"/gw/v1/{ACCOUNT}/my-gw/workers-ai/v1/chat/completions"), True),
    (re.compile(r"/compat/v1/chat/completions"), True),
]


@dataclass
class Reply:
    """One scripted HTTP reply; `body` pieces are written one by one (each a chunk if chunked)."""

    body: list[bytes]
    status: int = 200
    content_type: str = "text/event-stream; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    framing: str = "close"  # close (until EOF) | chunked | length
    version: str = "HTTP/1.1"
    gzip: bool = False
    hold_open: bool = False  # after the body, keep the connection until the client leaves
    cut: bool = False  # chunked: drop the connection without the last chunk
    drop: bool = False  # close the connection without a word


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    json: Any


class ForeignServer:
    """HTTP/1.1 on loopback from plain sockets; answers scripted replies in order."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.requests: list[Received] = []
        self.errors: list[str] = []
        self._replies: list[Reply] = []
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="foreign-accept")
        self._accepting.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._replies.extend(replies)

    def close(self) -> None:
        self._stop.set()
        self._accepting.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)
        assert not any(t.is_alive() for t in self._threads), "a connection thread hangs"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), name="foreign-conn")
            self._threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        buffer = b""
        try:
            while not self._stop.is_set():
                request, buffer = self._read_request(conn, buffer)
                if request is None:
                    return
                if not self._respond(conn, request):
                    return
        except (ConnectionError, BrokenPipeError):
            pass  # the client left first: it may
        except Exception as exc:  # reported by the fixture, not lost in a thread
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            conn.close()

    def _recv(self, conn: socket.socket) -> bytes | None:
        while not self._stop.is_set():
            try:
                return conn.recv(65536)
            except TimeoutError:
                continue
        return None

    def _read_request(self, conn: socket.socket, buffer: bytes) -> tuple[Received | None, bytes]:
        while b"\r\n\r\n" not in buffer:
            data = self._recv(conn)
            if not data:
                return None, b""
            buffer += data
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        method, target, _ = lines[0].split(" ", 2)
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(buffer) < length:
            data = self._recv(conn)
            if not data:
                return None, b""
            buffer += data
        body, buffer = buffer[:length], buffer[length:]
        assert method == "POST", method
        parsed = json.loads(body) if body else None
        received = Received(target, headers, parsed)
        self.requests.append(received)
        return received, buffer

    def _respond(self, conn: socket.socket, request: Received) -> bool:
        """Write the reply; False when the connection is to be closed."""
        reply = self._route_error(request)
        if reply is None:
            with self._lock:
                reply = self._replies.pop(0) if self._replies else Reply(sse(chunks("OK")))
        if reply.drop:
            return False
        head = [f"{reply.version} {reply.status} Whatever", f"Content-Type: {reply.content_type}"]
        head += [f"{k}: {v}" for k, v in reply.headers.items()]
        pieces = reply.body
        if reply.gzip:
            head.append("Content-Encoding: gzip")
            packer = zlib.compressobj(wbits=31)
            pieces = [packer.compress(p) + packer.flush(zlib.Z_SYNC_FLUSH) for p in pieces]
            pieces.append(packer.flush())
        if reply.framing == "length":
            pieces = [b"".join(pieces)]
            head.append(f"Content-Length: {len(pieces[0])}")
        elif reply.framing == "chunked":
            head.append("Transfer-Encoding: chunked")
        else:
            head.append("Connection: close")
        conn.sendall(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        for piece in pieces:
            if reply.framing == "chunked" and piece:
                conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece))
            elif reply.framing != "chunked":
                conn.sendall(piece)
        if reply.hold_open:
            while self._recv(conn):  # until the client closes its side
                pass
            return False
        if reply.cut:
            return False
        if reply.framing == "chunked":
            conn.sendall(b"0\r\n\r\n")
        return reply.framing != "close" and reply.version != "HTTP/1.0"

    def _route_error(self, request: Received) -> Reply | None:
        route = next((r for r in _ROUTES if r[0].fullmatch(request.path)), None)
        if route is None:
            return error_reply(404, 7003, "No route for that URI")
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return error_reply(401, 10000, "Authentication error")
        if route[1] and (request.json or {}).get("model") != MODEL:
            return error_reply(400, 8001, "model is required")
        return None


# -- building replies -------------------------------------------------------------------------


def chunks(
    text: str,
    reasoning: str = "",
    *,
    finish: str | None = "stop",
    usage: tuple[int, int] = (1200, 1000),
) -> list[dict[str, Any]]:
    """`chat.completion.chunk`s: reasoning_content then content, usage on every chunk."""
    prompt, cached = usage
    out: list[dict[str, Any]] = []
    words = [("reasoning_content", w) for w in re.findall(r"\S+\s*", reasoning)]
    words += [("content", w) for w in re.findall(r"\S+\s*", text)]
    for n, (key, word) in enumerate(words, 1):
        delta: dict[str, Any] = {key: word}
        if n == 1:
            delta["role"] = "assistant"
        out.append(_chunk([{"index": 0, "delta": delta, "finish_reason": None}], n, usage))
    if finish:
        out.append(_chunk([{"index": 0, "delta": {}, "finish_reason": finish}], len(words), usage))
        out.append({"response": "", "usage": _usage(prompt, cached, len(words))})
    return out


def _chunk(choices: list[Any], produced: int, usage: tuple[int, int]) -> dict[str, Any]:
    return {
        "id": "chatcmpl-foreign-7",
        "object": "chat.completion.chunk",
        "created": 1764000000,
        "model": MODEL,
        "choices": choices,
        "usage": _usage(*usage, produced),
    }


def _usage(prompt: int, cached: int, completion: int) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached},
    }


def sse(events: list[Any], *, done: bool = True, split: int | None = None) -> list[bytes]:
    """SSE with CRLF and keep-alive comments; `split` re-cuts the bytes (through characters)."""
    out = [b": keep-alive\r\n\r\n"]
    for event in events:
        data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
        out += [f"data: {data}\r\n\r\n".encode(), b":\r\n\r\n"]
    if done:
        out.append(b"data: [DONE]\r\n\r\n")
    if split:
        blob = b"".join(out)
        out = [blob[i : i + split] for i in range(0, len(blob), split)]
    return out


def error_reply(
    status: int, code: int | None, message: str, *, openai: bool = False, **headers: str
) -> Reply:
    if openai:
        body: dict[str, Any] = {"error": {"message": f"AiError: {message}", "code": code}}
    else:
        body = {
            "success": False,
            "errors": [{"code": code, "message": f"AiError: AiError: {message}"}],
            "messages": [],
            "result": None,
        }
    return Reply(
        [json.dumps(body).encode()],
        status=status,
        content_type="application/json",
        headers=headers,
        framing="length",
    )


def completion(text: str, reasoning: str = "", **message: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-whole-1",
        "object": "chat.completion",
        "created": 1764000000,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {
                    "role": "assistant",
                    "content": text,
                    "reasoning_content": reasoning,
                    **message,
                },
                "finish_reason": "tool_calls" if message.get("tool_calls") else "stop",
            }
        ],
        "usage": _usage(50, 0, 20),
    }


def json_reply(body: Any, status: int = 200) -> Reply:
    return Reply(
        [json.dumps(body).encode()],
        status=status,
        content_type="application/json; charset=utf-8",
        framing="length",
    )


# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ForeignServer]:
    """A fresh foreign server; afterwards every body it received is checked against the schema."""
    validate: Callable[[Any], None] | None
    try:  # asked for before the test runs: pytest refuses fixtures requested in teardown
        validate = request.getfixturevalue("validate_request")
    except pytest.skip.Exception:
        validate = None
    foreign = ForeignServer()
    try:
        yield foreign
    finally:
        foreign.close()
    assert not foreign.errors, foreign.errors
    for received in foreign.requests if validate is not None else ():
        validate(received.json)


@pytest.fixture
def env(server: ForeignServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ForeignServer:
    """Credentials and base URL of the foreign server in the environment; no config files."""
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", server.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return server


@pytest.fixture
def kimi(env: ForeignServer) -> Iterator[Kimi]:
    with Kimi() as client:
        yield client


@pytest.fixture
def shell(env: ForeignServer) -> Iterator[InteractiveShell]:
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.run_line_magic("load_ext", "kimi_magic")
    yield ip
    ip.run_line_magic("unload_ext", "kimi_magic")
    ip.reset(new_session=True)
    ip.config.pop("KimiMagics", None)  # no %config left for the next test


def cost(prompt: int, cached: int, out: int) -> float:
    return ((prompt - cached) * 0.95 + cached * 0.16 + out * 4.0) / 1_000_000


# -- streams ----------------------------------------------------------------------------------

ANSWER = "Plot the trend — then the residuals ✓"
THOUGHT = "The user wants plots; think about seasonality first."
STREAM_SHAPES = {
    "close-delimited HTTP/1.0": dict(version="HTTP/1.0"),
    "close-delimited HTTP/1.1": dict(),
    "chunked, cut through characters": dict(framing="chunked", split=7),
    "gzip, chunked": dict(framing="chunked", gzip=True),
    "gzip, close-delimited": dict(gzip=True, split=11),
    "[DONE] then held open": dict(hold_open=True),
    "[DONE] then held open, chunked": dict(framing="chunked", hold_open=True, split=5),
}


@pytest.mark.parametrize("shape", STREAM_SHAPES.values(), ids=list(STREAM_SHAPES))
def test_a_stream_in_every_allowed_shape(
    kimi: Kimi, server: ForeignServer, shape: dict[str, Any]
) -> None:
    split = shape.pop("split", None)
    server.script(Reply(sse(chunks(ANSWER, THOUGHT), split=split), **shape))
    started = time.monotonic()
    answer = kimi.ask("Which plots?")
    assert time.monotonic() - started < 5, "the client waited for a connection held open"
    assert (answer.text, answer.reasoning) == (ANSWER, THOUGHT)
    words = len(re.findall(r"\S+\s*", ANSWER + " " + THOUGHT))
    assert (answer.usage.prompt_tokens, answer.usage.cached_tokens) == (1200, 1000)
    assert answer.usage.completion_tokens == words
    assert answer.cost == pytest.approx(cost(1200, 1000, words))
    assert answer.finish_reason == "stop" and answer.complete
    assert answer.request_id == "chatcmpl-foreign-7"  # no cf-ray: the completion id
    assert answer.model == MODEL
    sent = server.requests[-1]
    assert sent.json["stream"] is True and sent.json["messages"][-1]["content"] == "Which plots?"


def test_a_done_marker_with_stray_whitespace_ends_the_stream(
    kimi: Kimi, server: ForeignServer
) -> None:
    body = [*sse(chunks("Done.", finish=None), done=False), b"data:  [DONE] \r\n\r\n"]
    server.script(Reply(body, hold_open=True))
    answer = kimi.ask("hi")
    assert answer.text == "Done." and answer.complete


def test_a_connection_is_reused_after_a_whole_chunked_stream(
    kimi: Kimi, server: ForeignServer
) -> None:
    server.script(
        Reply(sse(chunks("one")), framing="chunked"), Reply(sse(chunks("two")), framing="chunked")
    )
    assert [kimi.ask("1").text, kimi.ask("2").text] == ["one", "two"]


def test_reasoning_beside_a_null_or_empty_reasoning_field(
    kimi: Kimi, server: ForeignServer
) -> None:
    events = [
        _chunk([{"index": 0, "delta": {"reasoning": None, "reasoning_content": "a "}}], 1, (9, 0)),
        _chunk([{"index": 0, "delta": {"reasoning": "", "reasoning_content": "b"}}], 2, (9, 0)),
        _chunk([{"index": 0, "delta": {"content": "c"}, "finish_reason": "stop"}], 3, (9, 0)),
    ]
    server.script(Reply(sse(events)))
    answer = kimi.ask("?")
    assert (answer.reasoning, answer.text) == ("a b", "c")


def test_a_response_field_beside_choices_does_not_repeat_the_text(
    kimi: Kimi, server: ForeignServer
) -> None:
    events = [
        {**_chunk([{"index": 0, "delta": {"content": word}}], n, (9, 0)), "response": word}
        for n, word in enumerate(["Once ", "only."], 1)
    ]
    events.append(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}], 2, (9, 0)))
    server.script(Reply(sse(events)))
    assert kimi.ask("?").text == "Once only."


def test_tool_calls_keyed_by_index(kimi: Kimi, server: ForeignServer) -> None:
    def piece(index: int, **function: str) -> dict[str, Any]:
        call: dict[str, Any] = {"index": index, "function": function}
        if "name" in function:
            call.update(id=f"functions.{function['name']}:{index}", type="function")
        return _chunk([{"index": 0, "delta": {"tool_calls": [call]}}], 3, (40, 0))

    events = [
        piece(0, name="get_weather", arguments=""),
        piece(0, arguments='{"city": '),
        piece(1, name="get_time", arguments='{"tz"'),
        piece(0, arguments='"Paris"}'),
        piece(1, arguments=': "CET"}'),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], 9, (40, 0)),
    ]
    server.script(Reply(sse(events), framing="chunked"))
    tools = [
        {
            "type": "function",
            "function": {
                "name": name,
                "description": "look it up",
                "parameters": {"type": "object", "properties": {}},
            },
        }
        for name in ("get_weather", "get_time")
    ]
    answer = kimi.ask("Weather and time in Paris?", tools=tools)
    assert [(c.id, c.name, json.loads(c.arguments)) for c in answer.tool_calls] == [
        ("functions.get_weather:0", "get_weather", {"city": "Paris"}),
        ("functions.get_time:1", "get_time", {"tz": "CET"}),
    ]
    assert answer.finish_reason == "tool_calls" and answer.text == ""
    assert answer.usage.completion_tokens == 9
    assert server.requests[0].json["tools"] == tools


# -- whole replies ----------------------------------------------------------------------------


def test_a_whole_native_reply_in_the_envelope(kimi: Kimi, server: ForeignServer) -> None:
    body = {"result": completion("Four.", "2+2"), "success": True, "errors": [], "messages": []}
    server.script(json_reply(body))
    answer = kimi.ask("2+2?", stream=False)
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("Four.", "2+2", "stop")
    assert answer.usage.total_tokens == 70 and answer.cost == pytest.approx(cost(50, 0, 20))
    assert server.requests[0].json["stream"] is False


@pytest.mark.parametrize("how", ["api=openai", "openai base url"])
def test_a_bare_openai_compatible_reply(
    env: ForeignServer, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    call = {
        "id": "functions.get_weather:0",
        "type": "function",
        "function": {"name": "get_weather", "arguments": '{"city": "Oslo"}'},
    }
    env.script(json_reply(completion("", "need weather", tool_calls=[call])))
    if how == "api=openai":
        client = Kimi(api="openai")
    else:
        monkeypatch.setenv("KIMI_MAGIC_OPENAI_BASE_URL", f"http://127.0.0.1:{env.port}/compat/v1")
        monkeypatch.setenv("KIMI_MAGIC_API_KEY", TOKEN)
        client = Kimi()
    with client:
        answer = client.ask("Weather in Oslo?", stream=False)
    assert answer.reasoning == "need weather" and answer.finish_reason == "tool_calls"
    assert [(c.id, c.name, c.arguments) for c in answer.tool_calls] == [
        ("functions.get_weather:0", "get_weather", '{"city": "Oslo"}')
    ]
    assert env.requests[0].json["model"] == MODEL


def test_a_whole_reply_to_a_streaming_request(kimi: Kimi, server: ForeignServer) -> None:
    arguments = {"city": "Rome"}  # an object, not a JSON string, as older replies have it
    function = {"name": "get_weather", "arguments": arguments}
    call = {"id": "functions.get_weather:0", "type": "function", "function": function}
    body = {"result": completion("", tool_calls=[call]), "success": True, "errors": []}
    server.script(json_reply(body))
    answer = kimi.ask("Weather in Rome?")
    assert server.requests[0].json["stream"] is True
    assert [json.loads(c.arguments) for c in answer.tool_calls] == [arguments]
    assert answer.finish_reason == "tool_calls" and answer.usage.completion_tokens == 20


def test_an_html_gateway_error_is_retried(kimi: Kimi, server: ForeignServer) -> None:
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    server.script(
        Reply([page], status=502, content_type="text/html", framing="length"),
        Reply(sse(chunks("Back.")), version="HTTP/1.0"),
    )
    assert kimi.ask("hi").text == "Back." and len(server.requests) == 2


def test_an_html_error_says_what_the_server_said(kimi: Kimi, server: ForeignServer) -> None:
    page = b"<html><body>Forbidden by policy</body></html>"
    server.script(Reply([page], status=403, content_type="text/html", framing="length"))
    with pytest.raises(APIStatusError, match="Forbidden by policy") as caught:
        kimi.ask("hi")
    assert caught.value.status == 403 and len(server.requests) == 1


@pytest.mark.parametrize("api", ["native", "openai"])
def test_through_an_ai_gateway(server: ForeignServer, api: Any) -> None:
    server.script(Reply(sse(chunks("via the gateway"))))
    base = f"http://127.0.0.1:{server.port}/gw/v1/{ACCOUNT}/my-gw/workers-ai"
    with Kimi(base_url=base, api_token=TOKEN, api=api) as client:
        assert client.ask("hi").text == "via the gateway"
    assert ("model" in server.requests[0].json) == (api == "openai")


def test_the_model_path_with_a_percent_encoded_at(server: ForeignServer) -> None:
    server.script(Reply(sse(chunks("encoded"))))
    base = f"http://127.0.0.1:{server.port}/client/v4/accounts/{ACCOUNT}/ai/run"
    endpoint = Endpoint(f"{base}/%40cf/moonshotai/kimi-k2.6", "native", MODEL, TOKEN)
    with Kimi(endpoint=endpoint) as client:
        assert client.ask("hi").text == "encoded"
    assert "%40cf" in server.requests[0].path


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
    started = time.monotonic()
    answer = kimi.ask("hi")
    assert answer.text == "Finally." and len(server.requests) == 4
    assert time.monotonic() - started < 10


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


# -- streams that break -----------------------------------------------------------------------

BROKEN = {
    "no [DONE], no finish, clean close": (
        Reply(sse(chunks("Half an", finish=None), done=False)),
        "truncated",
    ),
    "chunked, connection dropped": (
        Reply(sse(chunks("Half an", finish=None), done=False), framing="chunked", cut=True),
        "connection broke",
    ),
    "an OpenAI-shaped error event": (
        Reply(sse([*chunks("Half an", finish=None), {"error": {"message": "AiError: boom"}}])),
        '"boom"',
    ),
    "a Cloudflare error event": (
        Reply(
            sse([*chunks("Half an", finish=None), {"success": False, "errors": [{"code": 3040}]}])
        ),
        "Cloudflare error 3040",
    ),
}


@pytest.mark.parametrize("reply, said", BROKEN.values(), ids=list(BROKEN))
def test_a_broken_stream_keeps_the_partial_answer(
    kimi: Kimi, server: ForeignServer, reply: Reply, said: str
) -> None:
    server.script(reply)
    with pytest.raises(StreamError) as caught:
        kimi.ask("hi")
    assert said in str(caught.value)
    partial = caught.value.answer
    assert partial is not None and partial.text == "Half an" and partial.truncated
    assert len(server.requests) == 1  # the answer had started: no retry


# -- through kimi_magic.ask and the %kimi magic -----------------------------------------------


def test_kimi_magic_ask(env: ForeignServer) -> None:
    env.script(Reply(sse(chunks("Fine.", "ok")), version="HTTP/1.0"))
    answer = kimi_magic.ask("How are you?", temperature=0.2)
    assert (answer.text, answer.reasoning, answer.finish_reason) == ("Fine.", "ok", "stop")
    assert answer.cost == pytest.approx(cost(1200, 1000, 2))
    assert env.requests[0].json["temperature"] == 0.2


def test_the_magic_streams_and_counts_usage(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(
        Reply(sse(chunks(ANSWER, THOUGHT)), hold_open=True),
        error_reply(429, 3040, "Capacity", **{"Retry-After": "0"}),
        Reply(sse(chunks("Second.")), framing="chunked", gzip=True),
    )
    assert shell.run_cell("%%kimi\nWhich plots?").error_in_exec is None
    assert shell.run_cell("%kimi and then?").error_in_exec is None
    out = capsys.readouterr().out
    assert f"Thinking: {THOUGHT}" in out and ANSWER in out and "Second." in out
    assert "in 1,200 (cached 1,000)" in out and "$0.0" in out
    assert len(server.requests) == 3
    affinity = {r.headers.get("x-session-affinity") for r in server.requests}
    assert len(affinity) == 1 and None not in affinity  # one conversation, one replica
    history = server.requests[-1].json["messages"]
    assert [m["content"] for m in history] == ["Which plots?\n", ANSWER, "and then?"]
    shell.run_cell("%kimi usage")
    usage = capsys.readouterr().out
    assert "| default | 2 | 2,400 | 2,000 |" in usage


def test_tool_calls_are_shown_where_widgets_cannot_render(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = {"index": 0, "id": "functions.get_weather:0", "type": "function"}
    first["function"] = {"name": "get_weather", "arguments": '{"city": '}
    rest = {"index": 0, "function": {"arguments": '"Oslo"}'}}
    events = [
        _chunk([{"index": 0, "delta": {"reasoning_content": "need data"}}], 1, (30, 0)),
        _chunk([{"index": 0, "delta": {"tool_calls": [first]}}], 2, (30, 0)),
        _chunk([{"index": 0, "delta": {"tool_calls": [rest]}}], 3, (30, 0)),
        _chunk([{"index": 0, "delta": {}, "finish_reason": "tool_calls"}], 4, (30, 0)),
    ]
    server.script(Reply(sse(events)), Reply(sse(events)))
    assert shell.run_cell("%kimi weather in Oslo?").error_in_exec is None
    kimi_magic.ask("weather in Oslo?", echo=True)
    out = capsys.readouterr().out
    assert out.count('Tool call get_weather: {"city": "Oslo"}') == 2


def test_the_magic_error_paragraph(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(error_reply(401, 10000, "Authentication error", openai=True))
    result = shell.run_cell("%kimi hello")
    err = capsys.readouterr().err
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "CLOUDFLARE_API_TOKEN" in err and "Traceback" not in err and TOKEN not in err


def test_the_magic_keeps_a_truncated_answer(
    shell: InteractiveShell, server: ForeignServer, capsys: pytest.CaptureFixture[str]
) -> None:
    server.script(
        Reply(sse(chunks("Half an", "thinking", finish=None), done=False), version="HTTP/1.0"),
        Reply(sse(chunks("The rest."))),
    )
    result = shell.run_cell("%kimi tell me")
    captured = capsys.readouterr()
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Half an" in captured.out and "truncated" in captured.err
    shell.run_cell("%kimi go on")
    history = server.requests[-1].json["messages"]
    # The partial answer goes back marked, so the model knows it was cut short.
    cut = "Half an\n\n[This answer was cut short: the connection broke.]"
    assert [m["content"] for m in history] == ["tell me", cut, "go on"]


@pytest.mark.parametrize("api", ["native", "openai"])
def test_the_magic_asks_for_and_parses_json(
    shell: InteractiveShell, server: ForeignServer, api: str
) -> None:
    schema = {"title": "City", "type": "object", "properties": {"name": {"type": "string"}}}
    shell.user_ns["City"] = schema
    shell.run_line_magic("config", f"KimiMagics.api = {api!r}")
    server.script(
        Reply(sse(chunks('```json\n{"name": "Oslo"}\n```'))),
        Reply(sse(chunks('{"any": 1}'))),
    )
    assert shell.run_cell("%kimi --schema City -o city a city?").error_in_exec is None
    assert shell.run_cell("%kimi --json -o anything any object?").error_in_exec is None
    assert shell.user_ns["city"] == {"name": "Oslo"} and shell.user_ns["anything"] == {"any": 1}
    first, second = (r.json["response_format"] for r in server.requests)
    assert first["type"] == "json_schema" and first["json_schema"]["name"]
    assert second == {"type": "json_object"}
