"""The one-paragraph messages of a call that failed: where it failed (before or in the middle
of the answer), what was kept, and what to do."""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from typing import Any

import httpx

from ..core.errors import (
    CLOUDFLARE,
    APIConnectionError,
    APITimeoutError,
    KimiError,
    StreamError,
    UntrustedCertificateError,
)
from ..core.types import StreamEvent
from .endpoint import Endpoint
from .wire import events_from_chunk, events_from_completion


def events_of(
    chunk: Mapping[str, Any], data: str, started: bool, server: str = CLOUDFLARE
) -> list[StreamEvent]:
    """The chunk's events; a chunk of the wrong shape (`"delta": "text"`, a count that is no
    number) is one clear StreamError, not an AttributeError from deep in the adapter."""
    try:
        return list(events_from_chunk(chunk, server))
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        raise StreamError(
            f"The server sent an event in an unexpected shape ({data[:80]!r}){where(started)}, "
            f"so the answer stops here. {kept(started)} run the cell again; if it keeps "
            "happening, the base URL may point at a server that is not Workers AI."
        ) from None


def completion_events(body: Mapping[str, Any], server: str = CLOUDFLARE) -> list[StreamEvent]:
    """The events of a whole reply; one of the wrong shape is one clear error."""
    try:
        return list(events_from_completion(body, server))
    except (AttributeError, TypeError, ValueError, KeyError, IndexError):
        raise StreamError(
            f"The server's reply is JSON but not a chat completion ({str(body)[:80]!r}). Check "
            "the base URL points at Workers AI or an OpenAI-compatible server."
        ) from None


def where(started: bool) -> str:
    """Where in the call a failure happened, as the user would put it."""
    if started:
        return " in the middle of the answer"
    return " after the server accepted the request, before any of the answer arrived"


def kept(started: bool) -> str:
    return "What arrived is kept;" if started else "Nothing of the answer was lost;"


def bad_event_message(event: str, data: str, started: bool) -> str:
    if event == "error":
        return (
            f"The server reported an error{where(started)}: {data[:300]}. {kept(started)} "
            "run the cell again."
        )
    return (
        f"The server sent an event that is not valid JSON ({data[:80]!r}){where(started)}, "
        f"so the answer stops here. {kept(started)} run the cell again to get a whole answer."
    )


def after_retries(error: KimiError, attempt: int, waited: float, cap: float) -> KimiError:
    """The final error; after retries, it says how many and how long they waited."""
    if attempt:
        error.args = (
            f"{error} (kimi_magic tried {attempt + 1} times over {waited:.0f} s; waits are "
            f"capped at {cap:g} s in all.)",
        )
    return error


def wait_refused(error: KimiError, delay: float, cap: float) -> KimiError:
    """The error, saying why kimi_magic did not wait as long as the server asked."""
    error.args = (
        f"{error} The server asked to wait {delay:,.0f} s before trying again, more than "
        f"kimi_magic waits for one call ({cap:g} s in all, or what is left of call_timeout), "
        "so nothing more was sent. Try again later.",
    )
    return error


def connection_error(endpoint: Endpoint, exc: httpx.RequestError) -> APIConnectionError:
    reason = _certificate_problem(exc)
    if reason is not None:
        return UntrustedCertificateError(
            f"The TLS certificate of {endpoint.host} is not trusted ({reason}), so nothing was "
            "sent. If a proxy or firewall on your network re-signs TLS traffic, point "
            "SSL_CERT_FILE at its certificate bundle; otherwise check the base URL. Not "
            "retried: it would fail the same way."
        )
    if isinstance(exc, httpx.ConnectError):
        return APIConnectionError(
            f"Could not reach {endpoint.host} ({type(exc).__name__}: {exc}). Check the "
            "network connection and the base URL; if you use the emulator, check it is "
            "still running."
        )
    # Reached, but the connection failed before a reply: a proxy or the server hung up.
    return APIConnectionError(
        f"The connection to {endpoint.host} broke before the server replied "
        f"({type(exc).__name__}: {exc}). Nothing of an answer was lost; run the cell again, "
        "and if it keeps happening check the base URL and any proxy in between."
    )


def _certificate_problem(exc: BaseException) -> str | None:
    """The verifier's reason when `exc` (or what caused it) is a failed certificate check.

    Our transport chains the ssl error as the cause; httpx's own keeps it as the context."""
    seen: BaseException | None = exc
    for _ in range(5):  # a short chain: the transport's error, then the ssl one
        if seen is None:
            break
        if isinstance(seen, ssl.SSLCertVerificationError):
            return str(seen.verify_message or seen.reason or "certificate verify failed")
        seen = seen.__cause__ or seen.__context__
    if "CERTIFICATE_VERIFY_FAILED" in str(exc):
        return "certificate verify failed"
    return None


def timeout_error(endpoint: Endpoint, exc: httpx.TimeoutException) -> APITimeoutError:
    if isinstance(exc, httpx.ConnectTimeout):
        return APITimeoutError(
            f"Connecting to {endpoint.host} timed out. Check the network and the base URL, "
            "or raise connect_timeout."
        )
    return APITimeoutError(
        f"{endpoint.host} accepted the request but sent nothing before the read timeout "
        "(or the call's time limit, call_timeout, if that came first). Try again, or raise "
        "read_timeout for long reasoning."
    )
