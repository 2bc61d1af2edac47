"""A foreign Workers AI server, written from docs/design.md section 4 alone, and the replies tests
script on it.

Not our emulator: a raw-socket HTTP server that takes every liberty the protocol allows
(close-delimited HTTP/1.0 streams, chunked and gzip streams, CRLF, keep-alive comments,
`reasoning_content` only, usage on every chunk, the trailing `{"response": ""}` event, OpenAI-shaped
errors, 200 + JSON errors to a stream, Retry-After as a date, `[DONE]` with the connection held
open, no cf-ray), so the client is not coupled to the emulator's habits.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

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
        self.left_while_held = 0  # held-open replies whose connection the client closed
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
            try:
                while data := self._recv(conn):  # until the client closes its side
                    pass
            except ConnectionError:  # closed with a reset: it left all the same
                data = b""
            if data == b"":
                with self._lock:
                    self.left_while_held += 1
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


def cost(prompt: int, cached: int, out: int) -> float:
    return ((prompt - cached) * 0.95 + cached * 0.16 + out * 4.0) / 1_000_000


# A streamed answer and its reasoning, with characters that span UTF-8 bytes.
ANSWER = "Plot the trend — then the residuals ✓"
THOUGHT = "The user wants plots; think about seasonality first."
