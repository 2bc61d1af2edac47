"""The HTTP client: one POST per call, retries before the first byte, SSE bytes -> events."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import httpx

from ..core.call import Call
from ..core.constants import CONNECT_TIMEOUT_S, MAX_RETRIES, READ_TIMEOUT_S
from ..core.errors import (
    APIConnectionError,
    APITimeoutError,
    KimiError,
    StreamError,
    redact,
)
from ..core.messages import Message
from ..core.parameters import normalized
from ..core.types import Finish, ResponseStarted, StreamEvent
from .coalesce import coalesced
from .endpoint import ApiKind, Endpoint, resolve_endpoint
from .retry import parse_retry_after, retry_delay, should_retry
from .sse import iter_sse
from .wire import (
    error_from_reply,
    events_from_chunk,
    events_from_completion,
    parse_json,
    request_body,
)

log = logging.getLogger("kimi_magic")

# Where to connect and how: keywords of `Client` (and of `kimi_magic.ask`) that are not settings.
ENDPOINT_KEYS = frozenset({"account_id", "api_token", "base_url", "openai_base_url", "api_key"})
CONNECTION_KEYS = ENDPOINT_KEYS | {"connect_timeout", "max_retries", "transport", "endpoint"}


class Client:
    """The HTTP side of Kimi K2.6 calls: one POST each, retried before the first byte.

    The public `kimi_magic.Kimi` adds conversations on top (session/kimi.py).
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
        self.defaults = defaults
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._http = httpx.Client(timeout=timeout, transport=transport)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.endpoint!r})"

    def close(self) -> None:
        """Close the HTTP connections."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def stream(
        self,
        messages: Sequence[Message | Mapping[str, Any]],
        *,
        session_id: str | None = None,
        **params: Any,
    ) -> Call:
        """Start a call; iterate the result for events. Nothing is sent until iteration."""
        merged, notes = normalized({**self.defaults, **params})  # before anything is sent
        for note in notes:
            log.warning(note)
        stream = merged.pop("stream", True)
        stream = True if stream is None else bool(stream)
        model = self.endpoint.model if self.endpoint.kind == "openai" else None
        body = request_body(messages, merged, stream=stream, model=model)
        return Call(
            body,
            self._events,
            session_id=session_id,
            url=self.endpoint.url,
            endpoint_kind=self.endpoint.kind,
        )

    # -- the HTTP part -------------------------------------------------------------------

    def _secrets(self) -> tuple[str, ...]:
        return (self.endpoint.token,)

    def _events(self, call: Call) -> Iterator[StreamEvent]:
        try:
            response = self._open(call)
            if response is None:  # stopped while waiting to retry
                return
            call.on_close(response.close)
            if call.stopped:  # stopped while waiting for the headers
                response.close()
                return
            # The model asked for, so provenance names it even when chunks do not say.
            request_id = response.headers.get("cf-ray") or response.headers.get("x-request-id")
            yield ResponseStarted(request_id, self.endpoint.model)
            if "text/event-stream" in response.headers.get("content-type", "").lower():
                yield from self._sse_events(response)
            else:
                yield from events_from_completion(self._whole_reply(response))
        except KimiError as error:
            error.args = (redact(str(error), self._secrets()),)
            raise

    def _open(self, call: Call) -> httpx.Response | None:
        """POST with retries; returns a response whose body is an answer (None once stopped),
        or raises."""
        endpoint = self.endpoint
        attempt = 0
        if call.stopped:  # stopped before the reader thread got here: send nothing
            return None
        while True:
            call.attempts = attempt + 1
            error: KimiError
            try:
                request = self._http.build_request(
                    "POST",
                    endpoint.url,
                    json=call.body,
                    headers=endpoint.headers(call.session_id),
                )
                response = self._http.send(request, stream=True)
                failure = self._failure(response)  # may read an error body
            except httpx.TimeoutException as exc:
                error = _timeout_error(endpoint, exc)
            except httpx.RequestError as exc:  # a transport error, or a body that won't decode
                error = _connection_error(endpoint, exc)
            else:
                if failure is None:
                    return response
                error = failure
            if attempt >= self.max_retries or not should_retry(error):
                raise error
            delay = retry_delay(attempt, getattr(error, "retry_after", None))
            log.info("retrying in %.2f s after: %s", delay, redact(str(error), self._secrets()))
            if call.wait_unless_stopped(delay):  # Stop or an interrupt: send nothing more
                return None
            attempt += 1

    def _failure(self, response: httpx.Response) -> KimiError | None:
        """The error a response carries, reading its body only when it is not an answer."""
        content_type = response.headers.get("content-type", "")
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if response.status_code >= 400:
            text = _read_text(response)
            response.close()
            return error_from_reply(response.status_code, parse_json(text) or text, retry_after)
        if "application/json" in content_type.lower():
            # 200 + a JSON error (e.g. 3040) comes to streaming and whole requests alike;
            # caught here, it is retried like any other capacity error.
            body = parse_json(_read_text(response))
            if isinstance(body, Mapping) and (body.get("success") is False or body.get("error")):
                response.close()
                return error_from_reply(200, body, retry_after)
        return None

    def _whole_reply(self, response: httpx.Response) -> Mapping[str, Any]:
        """The JSON body of a non-streamed reply."""
        try:
            body = parse_json(_read_text(response))
        except httpx.TimeoutException as exc:
            raise _timeout_error(self.endpoint, exc) from None
        except httpx.RequestError as exc:
            raise _connection_error(self.endpoint, exc) from None
        if not isinstance(body, Mapping):
            raise StreamError(
                "The server's reply was not JSON. Check the base URL points "
                "at Workers AI or an OpenAI-compatible server."
            )
        return body

    def _sse_events(self, response: httpx.Response) -> Iterator[StreamEvent]:
        done = False
        finished = False
        identified = bool(response.headers.get("cf-ray") or response.headers.get("x-request-id"))
        try:
            # Decoded bytes: httpx asks for gzip, and a proxy may compress the stream.
            for sse in iter_sse(coalesced(response.iter_bytes())):
                if sse.data.strip() == "[DONE]":  # a stray space or CR is no reason to fail
                    done = True
                    break
                chunk = parse_json(sse.data)
                if sse.event == "error" or not isinstance(chunk, Mapping):
                    if sse.event == "error":
                        raise StreamError(
                            f"The server reported an error mid-answer: {sse.data[:300]}"
                        )
                    raise StreamError(
                        "The server sent an event that is not valid JSON "
                        f"({sse.data[:80]!r}), so the answer stops here; what arrived before it "
                        "is kept. Run the cell again to get a whole answer."
                    )
                if not identified and chunk.get("id"):
                    # No request id header: the completion id is the best handle there is.
                    identified = True
                    yield ResponseStarted(str(chunk["id"]))
                for event in events_from_chunk(chunk):
                    finished = finished or isinstance(event, Finish)
                    yield event
        except httpx.TimeoutException as exc:
            raise StreamError(
                f"The server went quiet for longer than the read timeout "
                f"({self._http.timeout.read} s) in the middle of the answer "
                f"({type(exc).__name__}). What arrived is kept; run the cell again, or raise "
                "read_timeout."
            ) from None
        except httpx.TransportError as exc:
            raise StreamError(
                f"The connection broke in the middle of the answer ({type(exc).__name__}). What "
                "arrived is kept; run the cell again to get a whole answer."
            ) from None
        if not done and not finished:
            raise StreamError(
                "The stream ended before the answer was finished (no [DONE] and no finish "
                "reason): the answer is truncated. What arrived is kept; run the cell again."
            )


def _read_text(response: httpx.Response) -> str:
    """The whole body as text; the response is closed when reading it fails."""
    try:
        return response.read().decode("utf-8", errors="replace")
    except BaseException:
        response.close()
        raise


def _connection_error(endpoint: Endpoint, exc: httpx.RequestError) -> APIConnectionError:
    return APIConnectionError(
        f"Could not reach {endpoint.host} ({type(exc).__name__}: {exc}). Check the "
        "network connection and the base URL; if you use the emulator, check it is "
        "still running."
    )


def _timeout_error(endpoint: Endpoint, exc: httpx.TimeoutException) -> APITimeoutError:
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError(
            f"Connecting to {endpoint.host} timed out. Check the network and the base URL, "
            "or raise connect_timeout."
        )
    return APITimeoutError(
        f"{endpoint.host} accepted the request but sent nothing before the read timeout. "
        "Try again, or raise read_timeout for long reasoning."
    )
