"""A raw-socket HTTP server that misbehaves on cue, for the fault matrix.

Each scripted reply is a list of steps run in order on the connection: bytes to send, a pause
(a float, seconds), `CUT` (close now), `RESET` (close with a TCP reset) or `HOLD` (keep the
connection open until the client leaves). A client that hangs up during a pause ends it, and
its request is marked `left_during_pause` (so a test sees that a stall was cut, not waited
out). A reply's bytes may hold `{auth}`, replaced by the
Authorization header the request carried (a server that echoes it). Unscripted requests get a
whole, good answer ("OK"), so "the next call works" needs no script.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from collections.abc import Iterable
from typing import Any

CUT, RESET, HOLD = "cut", "reset", "hold"
Step = bytes | float | str
ACCOUNT = "faultaccount"
MODEL = "@cf/moonshotai/kimi-k2.6"


class FaultServer:
    """HTTP/1.1 on 127.0.0.1 from plain sockets; one connection per request (no keep-alive)."""

    def __init__(self, token: str) -> None:
        self.token = token
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.port = self._listener.getsockname()[1]
        self.requests: list[dict[str, Any]] = []
        self.errors: list[str] = []
        self._replies: list[list[Step]] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accepting = threading.Thread(target=self._accept, name="fault-accept", daemon=True)
        self._accepting.start()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/client/v4"

    def script(self, *replies: list[Step]) -> None:
        with self._lock:
            self._replies.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._replies.clear()
        self.requests.clear()

    def close(self) -> None:
        self._stop.set()
        self._accepting.join()
        self._listener.close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        conn.settimeout(0.05)
        try:
            request = self._read_request(conn)
            if request is None:
                return
            self._run(conn, self._reply_for(request), request)
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

    def _pause(self, conn: socket.socket, seconds: float, request: dict[str, Any]) -> bool:
        """Wait `seconds` with the connection open; False when the client hung up meanwhile
        (then `request` is marked `left_during_pause`) or the server is stopping."""
        deadline = time.monotonic() + seconds
        while (remaining := deadline - time.monotonic()) > 0:
            conn.settimeout(min(remaining, 0.05))
            try:
                data = conn.recv(65536)
            except TimeoutError:
                data = None
            except OSError:  # a reset: the client left too
                data = b""
            if data == b"":
                request["left_during_pause"] = True
                return False
            if self._stop.is_set():
                return False
        conn.settimeout(0.05)
        return True

    def _read_request(self, conn: socket.socket) -> dict[str, Any] | None:
        buffer = b""
        while b"\r\n\r\n" not in buffer:
            data = self._recv(conn)
            if not data:
                return None
            buffer += data
        head, _, body = buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0"))
        while len(body) < length:
            data = self._recv(conn)
            if not data:
                return None
            body += data
        request = {
            "path": lines[0].split(" ")[1],
            "headers": headers,
            "json": json.loads(body) if body else None,
            "left_during_pause": False,
        }
        self.requests.append(request)
        return request

    def _reply_for(self, request: dict[str, Any]) -> list[Step]:
        if request["headers"].get("authorization") != f"Bearer {self.token}":
            return error_reply(401, cloudflare_body(10000, "Authentication error"))
        with self._lock:
            return self._replies.pop(0) if self._replies else stream_reply("OK")

    def _run(self, conn: socket.socket, steps: Iterable[Step], request: dict[str, Any]) -> None:
        auth = request["headers"].get("authorization", "").encode("latin-1")
        for step in steps:
            if isinstance(step, float):
                if not self._pause(conn, step, request):
                    return
            elif isinstance(step, bytes):
                conn.settimeout(10)  # a big body waits for the client to read
                conn.sendall(step.replace(b"{auth}", auth))
                conn.settimeout(0.05)
            elif step == CUT:
                return
            elif step == RESET:
                conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                return
            elif step == HOLD:
                while self._recv(conn):
                    pass
                return


# -- building replies ---------------------------------------------------------------------


def head(
    status: int = 200,
    content_type: str = "text/event-stream",
    *,
    chunked: bool = False,
    length: int | None = None,
    headers: dict[str, str] | None = None,
) -> bytes:
    lines = [f"HTTP/1.1 {status} Whatever", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
    if chunked:
        lines.append("Transfer-Encoding: chunked")
    elif length is not None:
        lines.append(f"Content-Length: {length}")
    lines.append("Connection: close")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def as_chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


LAST_CHUNK = b"0\r\n\r\n"


def event(payload: Any, name: str | None = None) -> bytes:
    data = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
    prefix = f"event: {name}\n" if name else ""
    return f"{prefix}data: {data}\n\n".encode()


def delta(text: str = "", *, reasoning: str = "", finish: str | None = None) -> dict[str, Any]:
    piece: dict[str, Any] = {}
    if reasoning:
        piece["reasoning_content"] = reasoning
    if text:
        piece["content"] = text
    return {
        "id": "chatcmpl-fault-1",
        "object": "chat.completion.chunk",
        "model": MODEL,
        "choices": [{"index": 0, "delta": piece, "finish_reason": finish}],
    }


def usage_event(prompt: int = 10, completion: int = 5) -> bytes:
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    return event({"response": "", "usage": usage})


DONE = b"data: [DONE]\n\n"


def answer_events(words: list[str], reasoning: list[str] = ()) -> list[bytes]:  # type: ignore[assignment]
    """Reasoning then content events, one word each (no finish, usage or [DONE])."""
    return [event(delta(reasoning=w)) for w in reasoning] + [event(delta(w)) for w in words]


def finish_events(reason: str = "stop") -> list[bytes]:
    return [event(delta(finish=reason)), usage_event()]


def stream_reply(text: str, *, chunked: bool = False) -> list[Step]:
    """A whole, good streamed answer."""
    body = [*answer_events([text]), *finish_events(), DONE]
    if chunked:
        return [head(chunked=True), *[as_chunk(b) for b in body], LAST_CHUNK]
    return [head(), *body]


def cloudflare_body(code: int | None, message: str) -> bytes:
    return json.dumps(
        {"success": False, "errors": [{"code": code, "message": f"AiError: {message}"}]}
    ).encode()


def openai_body(code: int | None, message: str) -> bytes:
    return json.dumps(
        {"error": {"message": message, "type": "invalid_request", "code": code}}
    ).encode()


def html_body(title: str) -> bytes:
    return (
        "<!DOCTYPE html>\n<html><head><title>" + title + "</title>"
        "<style>body{font:14px sans-serif}</style></head><body><h1>" + title + "</h1>"
        "<p>nginx</p>" + "<!-- padding -->" * 40 + "</body></html>"
    ).encode()


def error_reply(
    status: int,
    body: bytes,
    content_type: str = "application/json",
    headers: dict[str, str] | None = None,
    *,
    sized: bool = True,
) -> list[Step]:
    """An error reply; `sized=False` leaves out Content-Length (a body that holds `{auth}`
    changes length when the header is put in)."""
    size = len(body) if sized else None
    return [head(status, content_type, length=size, headers=headers), body]
