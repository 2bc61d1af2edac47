"""Request headers read without the email package.

`http.server` parses every request's headers with `email.feedparser` and looks each one up by
a scan with `str.lower()` per header: a third of the emulator's CPU per request in
benchmarks/bench_map.py, where the emulator shares two cores with the client it serves (a real
Cloudflare does not). Plain `Name: value` lines are read here into a real `HTTPMessage` with
the same values the email parser gives; anything unusual (a folded line, a line without a
colon) still goes through the email parser, so the result is the same either way.
"""

from __future__ import annotations

import email.parser
import http.client
import re
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler
from io import BufferedIOBase
from typing import Any

# As http.client: the longest header line and the most header lines a request may have.
MAX_LINE = 65_536
MAX_HEADERS = 100
_END = (b"\r\n", b"\n", b"")
# A field name as the email parser accepts one (its headerRE): printable, no space, no colon.
_FIELD = re.compile(r"[\041-\071\073-\176]+:")


class RequestHeaders(http.client.HTTPMessage):
    """An HTTPMessage whose `get` is a dict lookup (the first value of a name, as the scan's)."""

    _first: dict[str, str] | None = None
    _headers: list[tuple[str, str]]  # the email package's own list of (name, value)

    def get(self, name: str, failobj: Any = None) -> Any:
        first = self._first
        if first is None:
            first = self._first = {}
            for key, value in self._headers:
                first.setdefault(key.lower(), value)
        return first.get(name.lower(), failobj)

    def items(self) -> list[tuple[str, str]]:  # type: ignore[override]
        # The email package's compat32 policy gives the values as they are (text decoded
        # from Latin-1 has no surrogates for it to escape).
        return list(self._headers)


def read_headers(rfile: BufferedIOBase) -> http.client.HTTPMessage:
    """The header block after a request line, as `http.client.parse_headers` reads it; raises
    its LineTooLong / HTTPException for a line or a block past the limits."""
    lines: list[bytes] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise http.client.LineTooLong("header line")
        if line in _END:
            break
        lines.append(line)
        if len(lines) > MAX_HEADERS:
            raise http.client.HTTPException(f"got more than {MAX_HEADERS} headers")
    message = RequestHeaders()
    pairs = []
    for raw in lines:
        text = raw.decode("iso-8859-1")
        if not _FIELD.match(text):
            # Folded or malformed: the email parser's own rules (defects and all).
            block = b"".join(lines).decode("iso-8859-1")
            return email.parser.Parser(_class=RequestHeaders).parsestr(block)
        # The email parser's compat32 policy: spaces and tabs before the value go, the line
        # ending goes, and nothing else.
        name, _, value = text.partition(":")
        pairs.append((name, value.lstrip(" \t").rstrip("\r\n")))
    message._headers = pairs
    return message


class LeanRequestHandler(BaseHTTPRequestHandler):
    """A request handler whose headers are read by `read_headers`."""

    raw_requestline: bytes  # read by handle_one_request before parse_request

    def parse_request(self) -> bool:
        """The standard library's `parse_request` (Python 3.11), with the headers read by
        `read_headers` instead of the email package: the same values, a third less CPU per
        request. The request-line checks are its own, kept as they are."""
        self.command = None  # type: ignore[assignment]
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:  # enough to determine the protocol version
            version = words[-1]
            try:
                if not version.startswith("HTTP/"):
                    raise ValueError
                numbers = version.split("/", 1)[1].split(".")
                if len(numbers) != 2 or any(not n.isdigit() or len(n) > 10 for n in numbers):
                    raise ValueError
                number = int(numbers[0]), int(numbers[1])
            except (ValueError, IndexError):
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request version ({version!r})")
                return False
            if number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if number >= (2, 0):
                self.send_error(
                    HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                    f"Invalid HTTP version ({version.split('/', 1)[1]})",
                )
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # gh-87389: never an absolute URI without a scheme
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = read_headers(self.rfile)
        except http.client.LineTooLong as error:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long", str(error))
            return False
        except http.client.HTTPException as error:
            self.send_error(
                HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers", str(error)
            )
            return False
        connection = self.headers.get("Connection", "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "").lower()
        if (
            expect == "100-continue"
            and self.protocol_version >= "HTTP/1.1"
            and self.request_version >= "HTTP/1.1"
        ):
            return self.handle_expect_100()
        return True
