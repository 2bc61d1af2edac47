"""The HTTP side of the emulator: routes, auth, envelopes, chunked SSE and injected faults."""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from http.server import ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..core.constants import MODEL_ID
from . import _wire
from ._batch import batch_item
from ._gateway import GATEWAY_FAULTS, GATEWAY_ID, GATEWAY_PATH, gateway_error
from ._headers import LeanRequestHandler
from ._replies import Meter, answer_for, build_completion
from ._routes import INVALID, Route, parse_json, route
from ._stream import build_stream, error_event, malformed_event, raw_chunks
from ._usage import estimate_tokens, prompt_text
from ._validate import input_problem

# The async batch API takes payloads under 10 MB; single requests get the same limit here.
MAX_BODY_BYTES = 10 * 1024 * 1024
# An idle keep-alive connection is closed after this long.
IDLE_TIMEOUT_S = 120
CONTROL_PREFIX = "/_emulator/"
SECRET_HEADERS = ("authorization", "cf-aig-authorization", "x-api-key")
ERROR_FAULTS = ("http_error", "openai_error", "json_error_200")


class EmulatorServer(ThreadingHTTPServer):
    """A threading HTTP server that can close its keep-alive connections when stopped."""

    daemon_threads = True
    # socketserver's default backlog of 5 drops connections when a map opens 32 at once; the
    # client then waits a second to resend its SYN (or sees a reset).
    request_queue_size = 128

    # `emulator` is the Emulator that owns this server (not imported: it imports this module).
    def __init__(self, address: tuple[str, int], emulator: Any) -> None:
        super().__init__(address, Handler)
        self.emulator = emulator
        self.stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self._idle = threading.Condition()

    def track(self, connection: socket.socket) -> None:
        """Remember an open client connection."""
        with self._idle:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        """Forget a connection its handler is done with."""
        with self._idle:
            self._connections.discard(connection)
            self._idle.notify_all()

    def close_connections(self, timeout: float = 2.0) -> None:
        """Shut every client connection down and wait for the handlers to finish."""
        self.stopping.set()
        with self._idle:
            for connection in self._connections:
                with contextlib.suppress(OSError):
                    connection.shutdown(socket.SHUT_RDWR)
            self._idle.wait_for(lambda: not self._connections, timeout)

    def handle_error(self, request: object, client_address: object) -> None:
        """Stay quiet about clients hanging up; keep anything else for the tests to see."""
        error = sys.exc_info()[1]
        if not isinstance(error, OSError):
            self.emulator.server_errors.append(traceback.format_exc())


class Handler(LeanRequestHandler):
    """One client connection: HTTP/1.1 keep-alive, any number of requests."""

    protocol_version = "HTTP/1.1"
    server_version = "cloudflare"
    sys_version = ""
    timeout = IDLE_TIMEOUT_S
    server: EmulatorServer

    def setup(self) -> None:
        super().setup()
        # Each SSE event must leave at once, not wait for the client's delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        """Silence the per-request log lines."""

    def do_POST(self) -> None:
        self._dispatch()

    do_GET = do_PUT = do_PATCH = do_DELETE = do_POST

    # -- dispatch ------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        self.ray = _wire.new_ray_id()
        self.extra_headers: dict[str, str] = {}  # the AI Gateway's, on a gateway URL
        try:
            split = urlsplit(self.path)
            body = self._read_body()
            if body is None:
                return
            path = unquote(split.path)
            if path.startswith(CONTROL_PREFIX):
                self._control(path[len(CONTROL_PREFIX) :].strip("/"), body)
            else:
                query = dict(parse_qsl(split.query, keep_blank_values=True))
                self.server.emulator.load.enter()
                self._in_flight = True
                self._api(split.path, path, query, body)
        except OSError:
            # The client hung up (or the emulator is stopping): nothing left to say.
            self.close_connection = True
        finally:
            self._answered()

    def end_headers(self) -> None:
        self._answered()  # before the first byte leaves: the client cannot be done before
        super().end_headers()

    def _answered(self) -> None:
        if getattr(self, "_in_flight", False):
            self._in_flight = False
            self.server.emulator.load.leave()

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._read_chunked()
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY_BYTES:
            self.close_connection = True
            self._send_error(3006 if length > 0 else 8001)
            return None
        return self.rfile.read(length)

    def _read_chunked(self) -> bytes | None:
        parts: list[bytes] = []
        size = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                length = int(line.split(b";")[0].strip() or b"0", 16)
            except ValueError:
                self.close_connection = True
                self._send_error(8001, detail="malformed chunked request body")
                return None
            if length == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return b"".join(parts)
            size += length
            if size > MAX_BODY_BYTES:
                self.close_connection = True
                self._send_error(3006)
                return None
            parts.append(self.rfile.read(length))
            self.rfile.readline(1024)

    # -- the API -------------------------------------------------------------------------------

    def _api(self, raw_path: str, path: str, query: dict[str, str], body: bytes) -> None:
        emu = self.server.emulator
        parsed = parse_json(body)
        authorized = self.headers.get("Authorization", "") == f"Bearer {emu.token}"
        recorded = self._recorded(raw_path, query, parsed, authorized)
        emu.record(recorded)

        found = route(path)
        if found is None:
            return self._send_error(7000)
        if not authorized:
            return self._send_error(10000)
        if found.account != emu.account_id:
            return self._send_error(7003, path=raw_path)
        if self.command != "POST":
            return self._send_error(7001)
        through = GATEWAY_PATH.match(path)
        if through is not None:
            self.extra_headers["cf-aig-log-id"] = emu.gateway.new_log_id()
            if through.group(1) != GATEWAY_ID:
                return self._send_gateway_error("gateway_not_found")
            wanted = emu.gateway.token
            if wanted and self.headers.get("cf-aig-authorization", "") != f"Bearer {wanted}":
                return self._send_gateway_error("gateway_auth")
        if found.model is not None and found.model != MODEL_ID:
            return self._send_error(5007, model=found.model)
        if not isinstance(parsed, dict):
            return self._send_error(8001, detail="the body must be a JSON object")
        if found.shape == "openai":
            if not isinstance(parsed.get("model"), str):
                return self._send_error(8001, detail="'model' is required")
            if parsed["model"] != MODEL_ID:
                return self._send_error(5007, model=parsed["model"])
        if found.shape == "native" and "request_id" in parsed:
            return self._poll_batch(str(parsed["request_id"]))
        if found.shape == "native" and query.get("queueRequest", "").lower() in ("true", "1"):
            return self._submit_batch(parsed)
        problem = input_problem(parsed)
        if problem:
            return self._send_error(8001, detail=problem)
        refusal = emu.load.fault()
        if refusal is not None:
            emu.mark_refused(recorded)
            return self._send_fault(refusal)
        latency = emu.load.load.latency
        if latency and self._wait(latency):
            return self._abort()
        if through is None:
            return self._answer(found, parsed, emu.next_reply())
        # The gateway's cache: an identical request (path and body) within the TTL is a HIT.
        key = emu.gateway.key(path, body)
        skip = self.headers.get("cf-aig-skip-cache", "").lower() == "true"
        hit, cached = (False, None) if skip else emu.gateway.lookup(key)
        self.extra_headers["cf-aig-cache-status"] = "HIT" if hit else "MISS"
        reply = cached if hit else emu.next_reply()
        kind = ((reply or {}).get("fault") or {}).get("type")
        if kind in GATEWAY_FAULTS:
            return self._send_gateway_error(str(kind), (reply or {}).get("fault"))
        try:
            ttl = float(self.headers.get("cf-aig-cache-ttl") or 0)
        except ValueError:
            ttl = 0.0
        if not hit and not skip and ttl > 0 and kind is None:
            emu.gateway.store(key, reply, ttl)
        self._answer(found, parsed, reply)

    def _recorded(
        self, raw_path: str, query: dict[str, str], parsed: object, authorized: bool
    ) -> dict[str, Any]:
        headers = {name.lower(): value for name, value in self.headers.items()}
        for name in SECRET_HEADERS:
            if name in headers:
                headers[name] = "Bearer <redacted>"
        return {
            "method": self.command,
            "path": raw_path,
            "query": query,
            "headers": headers,
            "authorized": authorized,
            "json": None if parsed is INVALID else parsed,
            "cf_ray": self.ray,
            "received_at": time.monotonic(),  # the machine-wide clock: latencies across processes
        }

    def _answer(self, found: Route, body: dict[str, Any], reply: dict[str, Any] | None) -> None:
        emu = self.server.emulator
        rate, reasoning_field = emu.settings()
        options = reply or {}
        rate = options.get("rate", rate)
        stream = body.get("stream") is True or "raw_chunks_b64" in options
        fault: Mapping[str, Any] | None = options.get("fault")
        kind = fault["type"] if fault else None

        if fault and kind == "stall" and (fault.get("after_chunks") is None or not stream):
            # A stall before the headers: the whole response is late.
            if self._wait(float(fault.get("seconds", 1.0))):
                return self._abort()
            fault = kind = None
        if fault and kind in ERROR_FAULTS:
            return self._send_fault(fault)
        if kind == "disconnect" and not stream:
            return self._abort()
        if "raw_chunks_b64" in options:
            status = int(options.get("status", 200))
            content_type = str(options.get("content_type", "text/event-stream"))
            return self._stream(status, content_type, raw_chunks(options), [], fault, rate, "\n")

        text = prompt_text(body)
        affinity = self.headers.get("x-session-affinity")
        cached = emu.prefix_cache.cached_tokens(affinity, text)
        meter = Meter(max(1, estimate_tokens(text)), cached, options.get("usage"))
        answer = answer_for(reply, body)
        if stream:
            plan = build_stream(answer, meter, options, reasoning_field, body)
            le = str(options.get("line_ending", "\n"))
            return self._stream(200, "text/event-stream", plan.events, plan.tail, fault, rate, le)
        if kind == "malformed":
            return self._send_bytes(200, "application/json", b"{not json")
        if kind == "stream_error":
            message = str((fault or {}).get("message") or "AiError: Internal server error")
            return self._send_json(500, _wire.error_envelope(3043, message))
        completion = build_completion(answer, meter, reasoning_field, body, options)
        self._send_json(200, _wire.envelope(completion) if found.shape == "native" else completion)

    def _send_fault(self, fault: Mapping[str, Any]) -> None:
        if fault["type"] == "openai_error":
            status = int(fault.get("status", 400))
            message = str(fault.get("message") or "Invalid request.")
            body = _wire.openai_error(status, message, fault.get("error_type"), fault.get("code"))
            return self._send_json(status, body)
        given = fault.get("status")
        code = int(fault.get("code") or _wire.DEFAULT_CODE_FOR_STATUS.get(given or 429, 3043))
        known_status, template = _wire.KNOWN_ERRORS.get(code, (500, "AiError: Unknown error"))
        message = str(fault.get("message") or template.format(path=self.path, model=MODEL_ID))
        envelope = _wire.error_envelope(code, message)
        if fault["type"] == "json_error_200":
            return self._send_json(200, envelope)
        headers = {}
        if fault.get("retry_after") is not None:
            headers["Retry-After"] = str(fault["retry_after"])
        self._send_json(int(given or known_status), envelope, headers)

    def _send_gateway_error(self, kind: str, fault: dict[str, Any] | None = None) -> None:
        status, body = gateway_error(kind, fault)
        self._send_json(status, body)

    # -- batch ---------------------------------------------------------------------------------

    def _submit_batch(self, body: dict[str, Any]) -> None:
        emu = self.server.emulator
        requests = body.get("requests")
        if not isinstance(requests, list) or not requests:
            return self._send_error(8001, detail="'requests' must be a non-empty array")
        for i, request in enumerate(requests):
            problem = "not an object" if not isinstance(request, dict) else input_problem(request)
            if problem:
                return self._send_error(8001, detail=f"requests[{i}]: {problem}")
        _, reasoning_field = emu.settings()
        items = [
            batch_item(i, r, emu.next_reply(), reasoning_field) for i, r in enumerate(requests)
        ]
        request_id = emu.batches.submit(items)
        queued = {"status": "queued", "request_id": request_id, "model": MODEL_ID}
        self._send_json(200, _wire.envelope(queued))

    def _poll_batch(self, request_id: str) -> None:
        result = self.server.emulator.batches.poll(request_id)
        if result is None:
            return self._send_error(8001, detail=f"no queued request has id {request_id!r}")
        self._send_json(200, _wire.envelope(result))

    # -- the test-control endpoints ------------------------------------------------------------

    def _control(self, name: str, body: bytes) -> None:
        emu = self.server.emulator
        try:
            data = json.loads(body) if body else None
            if name == "script" and self.command == "POST":
                emu.script(*(data if isinstance(data, list) else [data]))
                return self._send_json(200, {"queued": emu.queued})
            if name == "requests" and self.command == "GET":
                return self._send_json(200, emu.requests)
            if name == "stats" and self.command == "GET":
                stats = {"most_in_flight": emu.load.most_in_flight, "refused": emu.load.refused}
                return self._send_json(200, stats)
            if name == "reset" and self.command == "POST":
                emu.reset()
                return self._send_json(200, {"ok": True})
            if name == "load" and self.command == "POST":
                return self._send_json(200, emu.configure_load(**(data or {})).__dict__)
            if name == "config" and self.command in ("GET", "POST"):
                if self.command == "POST":
                    emu.configure(**(data or {}))
                return self._send_json(200, emu.config)
        except (ValueError, TypeError) as error:
            return self._send_json(400, {"error": str(error)})
        unknown = f"No control endpoint {self.command} {CONTROL_PREFIX}{name}."
        self._send_json(404, {"error": unknown})

    # -- writing -------------------------------------------------------------------------------

    def _send_error(self, code: int, detail: str | None = None, **fields: str) -> None:
        status, template = _wire.KNOWN_ERRORS[code]
        message = template.format(**fields) + (f": {detail}" if detail else "")
        self._send_json(status, _wire.error_envelope(code, message))

    def _send_json(
        self, status: int, body: object, headers: Mapping[str, str] | None = None
    ) -> None:
        self._send_bytes(status, "application/json", _wire.dumps(body).encode(), headers)

    def _send_bytes(
        self,
        status: int,
        content_type: str,
        data: bytes,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("cf-ray", self.ray)
        for name, value in {**getattr(self, "extra_headers", {}), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(data)

    def _stream(
        self,
        status: int,
        content_type: str,
        events: list[bytes],
        tail: list[bytes],
        fault: Mapping[str, Any] | None,
        rate: float | None,
        line_ending: str,
    ) -> None:
        """Send `events` then `tail` as chunked writes, paced, breaking where `fault` says."""
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.send_header("cf-ray", self.ray)
        for name, value in getattr(self, "extra_headers", {}).items():
            self.send_header(name, value)
        self.end_headers()
        writes = events + tail
        after = fault.get("after_chunks") if fault else None
        cut = min(len(events) if after is None else int(after), len(writes))
        delay = 1.0 / rate if rate else 0.0
        for i in range(len(writes) + 1):
            if fault and i == cut:
                kind = fault["type"]
                if kind == "disconnect":
                    return self._abort()
                if kind == "stall" and self._wait(float(fault.get("seconds", 1.0))):
                    return self._abort()
                if kind == "malformed":
                    self._write_chunk(malformed_event(line_ending))
                if kind == "stream_error":
                    message = str(fault.get("message") or "AiError: Internal server error")
                    code = fault.get("code", 3043)
                    self._write_chunk(error_event(message, code, line_ending))
                    break
                if kind == "no_done":
                    break
            if i == len(writes):
                break
            if i and delay and self._wait(delay):
                return self._abort()
            self._write_chunk(writes[i])
        self.wfile.write(b"0\r\n\r\n")

    def _write_chunk(self, data: bytes) -> None:
        if data:  # an empty chunk would end the body
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds`; True when the emulator is stopping meanwhile."""
        return self.server.stopping.wait(seconds)

    def _abort(self) -> None:
        """Drop the connection without finishing the response."""
        self._answered()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)
