"""The HTTP client: one POST per call, retries before the first byte, SSE bytes -> events."""

from __future__ import annotations

import contextlib
import copy
import logging
import socket
import time
from collections.abc import Generator, Iterator, Mapping, Sequence
from typing import Any

import httpx

from ..core.call import Call
from ..core.constants import (
    CALL_TIMEOUT_S,
    CONNECT_TIMEOUT_S,
    MAX_RETRIES,
    READ_TIMEOUT_S,
    RETRY_TOTAL_WAIT_S,
)
from ..core.errors import (
    GATEWAY,
    KimiError,
    StreamError,
    redact,
    redact_error,
)
from ..core.messages import Message
from ..core.parameters import normalized
from ..core.secrets import MARKER, MIN_SECRET_CHARS
from ..core.types import (
    Finish,
    ReasoningDelta,
    ResponseStarted,
    Retrying,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
)
from .coalesce import coalesced
from .deadline import CallTimeUp, limit_wait, until
from .endpoint import ApiKind, Endpoint, resolve_endpoint
from .failures import (
    after_retries,
    bad_event_message,
    completion_events,
    connection_error,
    events_of,
    kept,
    timeout_error,
    wait_refused,
    where,
)
from .retry import parse_retry_after, retry_delay, retry_reason, should_retry
from .sse import SSEDecoder
from .transport import PooledTransport
from .wire import (
    error_from_reply,
    parse_json,
    request_body,
)

log = logging.getLogger("kimi_magic")

# Idle connections kept open for reuse. httpx keeps 20 by default, so a map with 32 requests in
# flight closed about 12 connections per round and opened new ones (a lookup, a connect and a
# new server thread each): 4 in 10 of its requests in benchmarks/bench_map.py.
KEEPALIVE_CONNECTIONS = 128

# Where to connect and how: keywords of `Client` (and of `kimi_magic.ask`) that are not settings.
ENDPOINT_KEYS = frozenset({"account_id", "api_token", "base_url", "openai_base_url", "api_key"})
CONNECTION_KEYS = ENDPOINT_KEYS | {
    "connect_timeout",
    "max_retries",
    "max_retry_wait",
    "transport",
    "endpoint",
}


class Client:
    """The HTTP side of Kimi K2.6 calls: one POST each, retried before the first byte.

    The public `kimi_magic.Kimi` adds conversations on top (python_api.py).
    """

    def __init__(
        self,
        *,
        account_id: str | None = None,
        api_token: str | None = None,
        base_url: str | None = None,
        openai_base_url: str | None = None,
        api_key: str | None = None,
        api: ApiKind = "native",
        model: str | None = None,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        max_retries: int = MAX_RETRIES,
        call_timeout: float | None = CALL_TIMEOUT_S,
        max_retry_wait: float = RETRY_TOTAL_WAIT_S,
        transport: httpx.BaseTransport | None = None,
        endpoint: Endpoint | None = None,
        **defaults: Any,
    ) -> None:
        self.endpoint = endpoint or resolve_endpoint(
            account_id=account_id,
            api_token=api_token,
            base_url=base_url,
            openai_base_url=openai_base_url,
            api_key=api_key,
            api=api,
            model=model,
        )
        self.max_retries = max_retries
        self.call_timeout = call_timeout
        self.max_retry_wait = max_retry_wait
        self.defaults = defaults
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=KEEPALIVE_CONNECTIONS)
        self._transport = transport
        self._parsed_url: tuple[str, httpx.URL] | None = None
        # Our own transport over http.client (api/transport.py): a fraction of httpcore's CPU
        # per request, and a pool that threads share without a scan; its TLS context is made
        # on the first HTTPS connection. Proxies from the environment still go through httpx's
        # own (`limits` is theirs).
        wire = (
            transport if transport is not None else PooledTransport(max_idle=KEEPALIVE_CONNECTIONS)
        )
        self._http = httpx.Client(timeout=timeout, transport=wire, limits=limits)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def for_one_thread(self) -> Client:
        """A copy for one worker thread of a map: the same endpoint, credentials, timeouts and
        connection pool (api/transport.py's is shared by threads without a scan), no retries of
        its own (the map retries)."""
        worker = copy.copy(self)
        worker.max_retries = 0
        return worker

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        session_id: str | None = None,
        headers: Mapping[str, str] | None = None,
        **params: Any,
    ) -> Call:
        """Start a call; iterate the result for events. Nothing is sent until iteration.
        `headers` (cf-aig-* from api/gateway.py) go out only through an AI Gateway."""
        merged, notes = normalized({**self.defaults, **params})  # before anything is sent
        for note in notes:
            log.warning(note)
        stream = merged.pop("stream", True)
        stream = True if stream is None else bool(stream)
        model = self.endpoint.model if self.endpoint.kind == "openai" else None
        body = request_body(messages, merged, stream=stream, model=model)
        # The last line of defence: whatever built the messages (the prompt layer redacts
        # more), the configured token itself never goes out in a request body.
        for secret in self.endpoint.secrets:
            body = _without(body, secret)
        return Call(
            body,
            self._events,
            session_id=session_id,
            url=self.endpoint.url,
            endpoint_kind=self.endpoint.kind,
            headers=headers if self.endpoint.server == GATEWAY else None,
        )

    # -- the HTTP part -------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        return self.endpoint.secrets

    def _events(self, call: Call) -> Iterator[StreamEvent]:
        deadline = time.monotonic() + self.call_timeout if self.call_timeout else None
        reading = _Reading(call)
        try:
            response = yield from self._open(call, deadline, reading)
            if response is None:  # stopped while waiting to retry
                return
            # Closing a socket from another thread does not wake a read blocked on it; a
            # shutdown does, so a stopped call's reader ends at once, not at read_timeout.
            reading.hang_up_on_stop(response.extensions.get("network_stream"))
            call.on_close(response.close)
            if call.stopped:  # stopped while waiting for the headers
                response.close()
                return
            # The model asked for, so provenance names it even when chunks do not say.
            request_id = response.headers.get("cf-ray") or response.headers.get("x-request-id")
            yield ResponseStarted(request_id, self.endpoint.model, *self._gateway_said(response))
            if "text/event-stream" in response.headers.get("content-type", "").lower():
                yield from self._sse_events(response, deadline)
            else:
                yield from completion_events(self._whole_reply(response), self.endpoint.server)
        except KimiError as error:
            redact_error(error, self._secrets())
            raise
        finally:
            reading.active = False

    def _open(
        self, call: Call, deadline: float | None, reading: _Reading
    ) -> Generator[Retrying, None, httpx.Response | None]:
        """POST with retries, announcing each wait as a `Retrying` event; returns (as the
        generator's value) a response whose body is an answer, None once stopped, or raises."""
        endpoint = self.endpoint
        attempt = 0
        waited = 0.0
        if call.stopped:  # stopped before the reader thread got here: send nothing
            return None
        while True:
            call.attempts = attempt + 1
            error: KimiError
            try:
                request = self._http.build_request(
                    "POST",
                    self._url(endpoint.url),
                    json=call.body,
                    headers={**endpoint.headers(call.session_id), **call.headers},
                    # A new connection's socket is known here, so a Stop while the server
                    # holds back the headers hangs it up (a reused one waits for them).
                    extensions={"trace": reading.trace},
                )
                limit_wait(request, deadline)
                response = self._http.send(request, stream=True)
                failure = self._failure(response)  # may read an error body
            except httpx.TimeoutException as exc:
                error = timeout_error(endpoint, exc)
            except httpx.RequestError as exc:  # a transport error, or a body that won't decode
                if call.stopped:  # Stop hung up while the headers were awaited: send no more
                    return None
                error = connection_error(endpoint, exc)
            else:
                if failure is None:
                    return response
                error = failure
            if attempt >= self.max_retries or not should_retry(error):
                raise after_retries(error, attempt, waited, self.max_retry_wait)
            asked = getattr(error, "retry_after", None)
            delay = retry_delay(attempt, asked)
            budget = self.max_retry_wait - waited
            if deadline is not None:
                budget = min(budget, deadline - time.monotonic())
            if max(delay, asked or 0.0) > budget:  # Retry-After: 999999 is not waited for
                raise wait_refused(error, max(delay, asked or 0.0), self.max_retry_wait)
            log.info("retrying in %.2f s after: %s", delay, redact(str(error), self._secrets()))
            yield Retrying(attempt + 2, self.max_retries + 1, delay, retry_reason(error))
            if call.wait_unless_stopped(delay):  # Stop or an interrupt: send nothing more
                return None
            waited += delay
            attempt += 1

    def _url(self, text: str) -> httpx.URL:
        """`text` parsed once (httpx parses and checks a URL string on every request)."""
        parsed = self._parsed_url
        if parsed is None or parsed[0] != text:
            parsed = self._parsed_url = (text, httpx.URL(text))
        return parsed[1]

    def _gateway_said(self, response: httpx.Response) -> tuple[str | None, str | None]:
        """An AI Gateway's cache status (HIT / MISS) and log id, from its response headers."""
        if self.endpoint.server != GATEWAY:
            return None, None
        cache = response.headers.get("cf-aig-cache-status")
        return (cache.strip().upper() if cache else None), response.headers.get("cf-aig-log-id")

    def _failure(self, response: httpx.Response) -> KimiError | None:
        """The error a response carries, reading its body only when it is not an answer."""
        content_type = response.headers.get("content-type", "")
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code >= 400:
            # Redacted before anything is cut to length: a cut through an echoed token would
            # leave a piece of it that no later redaction recognises.
            text = redact(_read_text(response), self._secrets())
            response.close()
            return error_from_reply(
                response.status_code,
                parse_json(text) or text,
                retry_after,
                server=self.endpoint.server,
            )
        if "application/json" in content_type.lower():
            # 200 + a JSON error (e.g. 3040) comes to streaming and whole requests alike;
            # caught here, it is retried like any other capacity error.
            body = parse_json(redact(_read_text(response), self._secrets()))
            if isinstance(body, Mapping) and (body.get("success") is False or body.get("error")):
                response.close()
                return error_from_reply(200, body, retry_after, server=self.endpoint.server)
        return None

    def _whole_reply(self, response: httpx.Response) -> Mapping[str, Any]:
        """The JSON body of a non-streamed reply."""
        try:
            body = parse_json(_read_text(response))
        except httpx.TimeoutException as exc:
            raise timeout_error(self.endpoint, exc) from None
        except httpx.RequestError as exc:
            raise connection_error(self.endpoint, exc) from None
        if not isinstance(body, Mapping):
            raise StreamError(
                "The server's reply was not JSON. Check the base URL points "
                "at Workers AI or an OpenAI-compatible server."
            )
        return body

    def _sse_events(
        self, response: httpx.Response, deadline: float | None
    ) -> Iterator[StreamEvent]:
        done = False
        finished = False
        started = False  # some of the answer (reasoning, text or a tool call) arrived
        identified = bool(response.headers.get("cf-ray") or response.headers.get("x-request-id"))
        try:
            decoder = SSEDecoder()
            # Decoded bytes: httpx asks for gzip, and a proxy may compress the stream.
            for raw in coalesced(until(response.iter_bytes(), deadline)):
                for sse in decoder.feed(raw):  # the events this read completed
                    data = sse.data.strip()
                    if data == "[DONE]":  # a stray space or CR is no reason to fail
                        done = True
                        break
                    if not data and sse.event != "error":
                        continue  # `data:` alone (WHATWG dispatches it) carries nothing
                    chunk = parse_json(sse.data)
                    if sse.event == "error" or not isinstance(chunk, dict):
                        raise StreamError(bad_event_message(sse.event, sse.data, started))
                    if not identified and chunk.get("id"):
                        # No request id header: the completion id is the best handle there is.
                        identified = True
                        yield ResponseStarted(str(chunk["id"]))
                    for event in events_of(chunk, sse.data, started, self.endpoint.server):
                        finished = finished or isinstance(event, Finish)
                        started = started or isinstance(event, _ANSWER_EVENTS)
                        yield event
                if done:
                    break
        except CallTimeUp:
            raise StreamError(
                f"The call took longer than its time limit (call_timeout = "
                f"{self.call_timeout:g} s) and was ended{where(started)}. What arrived is "
                "kept; run the cell again, ask for a shorter answer, or raise call_timeout "
                "(%config KimiMagics.call_timeout = seconds)."
            ) from None
        except httpx.TimeoutException as exc:
            raise StreamError(
                f"The server went quiet for longer than the read timeout "
                f"({self._http.timeout.read} s){where(started)} ({type(exc).__name__}). "
                f"{kept(started)} run the cell again, or raise read_timeout."
            ) from None
        except httpx.TransportError as exc:
            if finished:
                # docs/design.md section 4: truncation is no [DONE] *and* no finish reason. The
                # answer was whole; only the goodbye went missing.
                return
            raise StreamError(
                f"The connection broke{where(started)} ({type(exc).__name__}). "
                f"{kept(started)} run the cell again to get a whole answer."
            ) from None
        if not done and not finished:
            raise StreamError(
                "The stream ended before the answer was finished (no [DONE] and no finish "
                f"reason){where(started)}: the answer is truncated. {kept(started)} run the "
                "cell again."
            )


_ANSWER_EVENTS = (TextDelta, ReasoningDelta, ToolCallDelta)
TOKEN_MARKER = MARKER.format("the API token")


class _Reading:
    """While one call's reader uses a connection: what its Stop may hang up."""

    def __init__(self, call: Call) -> None:
        self.call = call
        self.active = True  # false once the reader is done with the connection

    def hang_up_on_stop(self, stream: Any) -> None:
        """When the call stops while it still reads, shut the socket of httpcore's network
        stream down: a read blocked on it then returns at once (closing a socket from
        another thread does not wake it). Nothing without a socket (a test transport)."""
        sock = stream.get_extra_info("socket") if stream is not None else None
        if not isinstance(sock, socket.socket):
            return

        def hang_up() -> None:
            if self.active and self.call.stopped:  # never a connection back in the pool
                with contextlib.suppress(OSError):  # already closed by the other side or by us
                    sock.shutdown(socket.SHUT_RDWR)

        self.call.on_close(hang_up)

    def trace(self, event: str, info: Mapping[str, Any]) -> None:
        """httpcore's trace hook: a new connection's socket is known as soon as it opens."""
        if event == "connection.connect_tcp.complete":
            self.hang_up_on_stop(info.get("return_value"))


def _without(value: Any, token: str) -> Any:
    """`value` with the token replaced in every string in it (a copy only where it occurs)."""
    if len(token) < MIN_SECRET_CHARS:
        return value
    if isinstance(value, str):
        return value.replace(token, TOKEN_MARKER) if token in value else value
    if isinstance(value, Mapping):
        return {key: _without(item, token) for key, item in value.items()}
    if isinstance(value, list):
        return [_without(item, token) for item in value]
    return value


def _read_text(response: httpx.Response) -> str:
    """The whole body as text; the response is closed when reading it fails."""
    try:
        return response.read().decode("utf-8", errors="replace")
    except BaseException:
        response.close()
        raise
