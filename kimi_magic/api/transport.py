"""An httpx transport over the standard library's `http.client`, with a small thread-safe pool.

Why our own: httpx's default transport (httpcore + h11) cost about 2 ms of CPU per request on
32 threads (benchmarks/bench_map.py: a 1,000-item map spent 70% of its CPU there, and the GIL
made that the job's pace), while `http.client`, which parses a response in C-backed code,
cost about 0.5 ms for the same request. urllib3 measured 1.1 ms. httpx stays the client API
(requests, responses, decoding, proxies from the environment, test transports); only the
bytes on the wire go through here. HTTP/1.1 only, as before (httpx was not given http2).

Each request takes an idle connection to its origin or opens one, and gives it back once the
response was read to the end; a connection the server closed while idle (or one idle longer
than `KEEPALIVE_EXPIRY_S`, httpx's default) is not reused. Errors become httpx's exceptions,
as httpcore's would, so callers see the same types.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import select
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

KEEPALIVE_EXPIRY_S = 5.0  # httpx's default: an idle connection older than this is closed
READ_SIZE = 65_536
Origin = tuple[str, str, int]
# Verifying TLS contexts, one per CA setting (see verifying_context).
_CONTEXTS: dict[tuple[str | None, str | None], ssl.SSLContext] = {}
_CONTEXTS_LOCK = threading.Lock()


def verifying_context() -> ssl.SSLContext:
    """httpx's default verifying TLS context (certifi's CAs, or SSL_CERT_FILE / SSL_CERT_DIR),
    made on the first HTTPS connection and kept for each CA setting. Loading the CA bundle
    costs about 20 ms of CPU: made with every client, it was paid by every one-off `ask` and
    at the start of every map, against plain-HTTP servers too. A new SSL_CERT_FILE is a new
    key, so pointing it at a proxy's bundle takes effect on the next connection."""
    key = (os.environ.get("SSL_CERT_FILE") or None, os.environ.get("SSL_CERT_DIR") or None)
    with _CONTEXTS_LOCK:
        context = _CONTEXTS.get(key)
    if context is None:
        context = httpx.create_ssl_context()  # reads files: not under the lock
        with _CONTEXTS_LOCK:
            context = _CONTEXTS.setdefault(key, context)
    return context


class NetworkStream:
    """What `response.extensions["network_stream"]` gives, as httpcore's does: the socket."""

    def __init__(self, sock: socket.socket | None) -> None:
        self._sock = sock

    def get_extra_info(self, info: str) -> Any:
        return self._sock if info == "socket" else None


class PooledTransport(httpx.BaseTransport):
    """HTTP/1.1 requests on `http.client` connections, kept for reuse per origin."""

    def __init__(self, ssl_context: ssl.SSLContext | None = None, max_idle: int = 128) -> None:
        self._ssl = ssl_context
        self._max_idle = max_idle
        self._idle: dict[Origin, list[tuple[http.client.HTTPConnection, float]]] = {}
        self._count = 0  # idle connections over all origins
        self._lock = threading.Lock()
        self._closed = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        origin = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeout = request.extensions.get("timeout") or {}
        body = request.read()
        if request.headers.get("transfer-encoding", "").lower() == "chunked":
            body = (b"%x\r\n%s\r\n" % (len(body), body) if body else b"") + b"0\r\n\r\n"
        connection = self._idle_connection(origin)
        if connection is None:
            connection = self._connect(origin, timeout.get("connect"), request)
        try:
            _set_timeout(connection, timeout.get("read"))
            with _mapped(httpx.WriteTimeout, httpx.WriteError, request):
                connection.putrequest(
                    request.method,
                    url.raw_path.decode("ascii"),
                    skip_host=True,
                    skip_accept_encoding=True,
                )
                for name, value in request.headers.raw:
                    connection.putheader(name, value)
                connection.endheaders(body)
            with _mapped(httpx.ReadTimeout, httpx.ReadError, request):
                response = connection.getresponse()
        except BaseException:
            connection.close()
            raise
        return httpx.Response(
            response.status,
            headers=response.getheaders(),
            stream=_Body(self, origin, connection, response, request),
            extensions={
                "http_version": b"HTTP/1.1",
                "reason_phrase": response.reason.encode("latin-1", "replace"),
                "network_stream": NetworkStream(connection.sock),
            },
            request=request,
        )

    def close(self) -> None:
        with self._lock:
            self._closed = True
            idle = [c for pairs in self._idle.values() for c, _ in pairs]
            self._idle.clear()
            self._count = 0
        for connection in idle:
            connection.close()

    # -- the pool ----------------------------------------------------------------------------

    def _idle_connection(self, origin: Origin) -> http.client.HTTPConnection | None:
        """The most recently used idle connection to `origin` that is still open, or None."""
        while True:
            with self._lock:
                pairs = self._idle.get(origin)
                if not pairs:
                    return None
                connection, since = pairs.pop()
                self._count -= 1
            if time.monotonic() - since < KEEPALIVE_EXPIRY_S and not _closed_by_peer(
                connection.sock
            ):
                return connection
            connection.close()

    def give_back(self, origin: Origin, connection: http.client.HTTPConnection) -> None:
        """Keep a connection whose response was read to the end for the next request."""
        with self._lock:
            if not self._closed and self._count < self._max_idle:
                self._idle.setdefault(origin, []).append((connection, time.monotonic()))
                self._count += 1
                return
        connection.close()

    def _connect(
        self, origin: Origin, timeout: float | None, request: httpx.Request
    ) -> http.client.HTTPConnection:
        scheme, host, port = origin
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self._ssl or verifying_context()
            connection = http.client.HTTPSConnection(host, port, timeout=timeout, context=context)
        else:
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        with _mapped(httpx.ConnectTimeout, httpx.ConnectError, request):
            connection.connect()
        trace = request.extensions.get("trace")
        if trace is not None:  # as httpcore says it: the client hangs a stopped call up
            trace(
                "connection.connect_tcp.complete", {"return_value": NetworkStream(connection.sock)}
            )
        return connection


class _Body(httpx.SyncByteStream):
    """A response body as it arrives; its connection goes back to the pool once read whole.

    A Stop closes the response from another thread while the reader may be inside a read:
    http.client's objects are not safe for that, so such a close only wakes the read (a
    socket shutdown) and the reader closes the connection when the read returns."""

    def __init__(
        self,
        pool: PooledTransport,
        origin: Origin,
        connection: http.client.HTTPConnection,
        response: http.client.HTTPResponse,
        request: httpx.Request,
    ) -> None:
        self._pool = pool
        self._origin = origin
        self._connection: http.client.HTTPConnection | None = connection
        self._response = response
        self._request = request
        self._whole = False
        self._reading = False
        self._close_asked = False
        self._lock = threading.Lock()

    def __iter__(self) -> Iterator[bytes]:
        response = self._response
        while True:
            with self._lock:
                if self._connection is None or self._close_asked:
                    break
                self._reading = True
            try:
                with _mapped(httpx.ReadTimeout, httpx.ReadError, self._request):
                    chunk = response.read1(READ_SIZE)
            finally:
                with self._lock:
                    self._reading = False
                    closed_meanwhile = self._close_asked
                if closed_meanwhile:  # the close that came meanwhile is done here
                    self.close()
            if closed_meanwhile:
                break
            if chunk:
                yield chunk
                continue
            if response.length:  # the server hung up before the Content-Length it promised
                raise httpx.RemoteProtocolError(
                    "peer closed connection without sending complete message body",
                    request=self._request,
                )
            self._whole = True
            return
        raise httpx.ReadError("The response was closed while it was read.", request=self._request)

    def close(self) -> None:
        with self._lock:
            connection = self._connection
            if connection is None:
                return
            if self._reading:  # another thread is inside a read: wake it; it closes after
                self._close_asked = True
                with contextlib.suppress(OSError):
                    if connection.sock is not None:
                        connection.sock.shutdown(socket.SHUT_RDWR)
                return
            self._connection = None
        self._response.close()
        if self._whole and not self._response.will_close and connection.sock is not None:
            self._pool.give_back(self._origin, connection)
        else:
            connection.close()


@contextlib.contextmanager
def _mapped(
    timeout: type[httpx.TimeoutException], failure: type[httpx.TransportError], request: Any
) -> Iterator[None]:
    """http.client's and the socket's errors as the httpx exceptions httpcore would raise."""
    try:
        yield
    except TimeoutError as error:
        raise timeout(str(error) or "timed out", request=request) from error
    except http.client.RemoteDisconnected as error:
        raise httpx.RemoteProtocolError(
            "Server disconnected without sending a response.", request=request
        ) from error
    except http.client.IncompleteRead as error:
        raise httpx.RemoteProtocolError(
            "peer closed connection without sending complete message body", request=request
        ) from error
    except http.client.HTTPException as error:
        raise httpx.RemoteProtocolError(
            str(error) or type(error).__name__, request=request
        ) from error
    except OSError as error:
        raise failure(str(error) or type(error).__name__, request=request) from error
    except ValueError as error:  # reading a response that another thread closed (Stop)
        if failure is not httpx.ReadError:
            raise
        raise failure(str(error) or type(error).__name__, request=request) from error


def _set_timeout(connection: http.client.HTTPConnection, seconds: float | None) -> None:
    if connection.sock is not None and connection.sock.gettimeout() != seconds:
        connection.sock.settimeout(seconds)


def _closed_by_peer(sock: socket.socket | None) -> bool:
    """An idle connection with something to read has been closed (or broken) by the server."""
    if sock is None:
        return True
    try:
        if hasattr(select, "poll"):  # select() fails for descriptors past 1024
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return bool(poller.poll(0))
        return bool(select.select([sock], [], [], 0)[0])
    except (OSError, ValueError):
        return True
