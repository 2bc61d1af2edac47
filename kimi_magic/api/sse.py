"""Server-sent events decoded at the byte level (WHATWG rules), as stacked iterators.

bytes chunks -> lines (split on CRLF, LF or CR; a UTF-8 character split across chunks is
safe because lines are decoded only when whole) -> events (blank line dispatches, ':' comments,
multi-line data, 'event', 'id' and 'retry' fields).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None
    retry: int | None = None


class LineDecoder:
    """Splits a byte stream into lines; keeps the unfinished tail between feeds."""

    def __init__(self) -> None:
        self._buffer = bytearray()
        # A chunk that ends in CR may be followed by the LF of the same CRLF.
        self._skip_leading_lf = False

    def feed(self, chunk: bytes) -> list[bytes]:
        if self._skip_leading_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        self._skip_leading_lf = False
        self._buffer += chunk
        lines: list[bytes] = []
        start = 0
        buffer = self._buffer
        length = len(buffer)
        while start < length:
            lf = buffer.find(b"\n", start)
            cr = buffer.find(b"\r", start, lf if lf != -1 else length)
            if cr != -1:
                lines.append(bytes(buffer[start:cr]))
                if cr + 1 < length:
                    start = cr + 2 if buffer[cr + 1] == 0x0A else cr + 1
                else:
                    start = cr + 1
                    self._skip_leading_lf = True
            elif lf != -1:
                lines.append(bytes(buffer[start:lf]))
                start = lf + 1
            else:
                break
        del buffer[:start]
        return lines


class EventDecoder:
    """Turns lines into events; `decode` returns an event when a blank line dispatches one."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None
        self._retry: int | None = None

    def decode(self, raw_line: bytes) -> ServerSentEvent | None:
        line = raw_line.decode("utf-8", errors="replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        if value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isdigit():
            self._retry = int(value)
        return None

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._data and not self._event:
            return None
        event = ServerSentEvent(
            "\n".join(self._data), self._event or "message", self._id, self._retry
        )
        self._data, self._event, self._retry = [], "", None
        return event


def iter_sse(chunks: Iterable[bytes]) -> Iterator[ServerSentEvent]:
    """Events from raw byte chunks, however the network split them."""
    lines = LineDecoder()
    events = EventDecoder()
    for chunk in chunks:
        for line in lines.feed(chunk):
            event = events.decode(line)
            if event is not None:
                yield event
    # WHATWG: an event not closed by a blank line before the end is discarded; the caller
    # notices the missing [DONE] and reports the answer as truncated.
