"""The SSE decoder: byte-chunk edge cases as a table (how the network may split a stream)."""

from __future__ import annotations

import pytest

from kimi_magic.api.sse import ServerSentEvent, iter_sse

E = ServerSentEvent

CASES = [
    ("one event", [b"data: hello\n\n"], [E("hello")]),
    ("two events in one chunk", [b"data: a\n\ndata: b\n\n"], [E("a"), E("b")]),
    ("CRLF line endings", [b"data: a\r\n\r\ndata: b\r\n\r\n"], [E("a"), E("b")]),
    ("CR line endings", [b"data: a\r\rdata: b\r\r"], [E("a"), E("b")]),
    ("CRLF split between chunks", [b"data: a\r", b"\n\r", b"\n"], [E("a")]),
    ("line split mid-field", [b"da", b"ta: hel", b"lo\n", b"\n"], [E("hello")]),
    (
        "UTF-8 character split across chunks",
        [b"data: caf\xc3", b"\xa9 \xe2\x82", b"\xac\n\n"],
        [E("café €")],
    ),
    (
        "4-byte emoji split byte by byte",
        [b"data: ", b"\xf0", b"\x9f", b"\x98", b"\x80", b"\n\n"],
        [E("😀")],
    ),
    ("comment lines are ignored", [b": keep-alive\n\ndata: x\n: another\n\n"], [E("x")]),
    (
        "multi-line data joins with newline",
        [b"data: first\ndata: second\n\n"],
        [E("first\nsecond")],
    ),
    ("no space after colon", [b"data:tight\n\n"], [E("tight")]),
    ("only the first space is stripped", [b"data:  two\n\n"], [E(" two")]),
    ("event name and id", [b"event: error\nid: 7\ndata: boom\n\n"], [E("boom", "error", "7")]),
    ("retry field", [b"retry: 1500\ndata: r\n\n"], [E("r", retry=1500)]),
    ("field without colon is a name with empty value", [b"data\n\n"], [E("")]),
    ("unknown fields are ignored", [b"foo: bar\ndata: ok\n\n"], [E("ok")]),
    ("blank lines alone dispatch nothing", [b"\n\n\n"], []),
    ("DONE marker is just data", [b"data: [DONE]\n\n"], [E("[DONE]")]),
    ("an event without its closing blank line is discarded", [b'data: {"choi'], []),
    ("an unfinished event after a complete one", [b"data: ok\n\ndata: partial\n"], [E("ok")]),
    ("one byte at a time", [bytes([b]) for b in b"data: slow\r\n\r\n"], [E("slow")]),
    (
        "many events in one read",
        [b"data: 1\n\ndata: 2\n\n: note\ndata: 3\n\n"],
        [E("1"), E("2"), E("3")],
    ),
    ("a CR ends a chunk and no LF follows", [b"data: a\r", b"data: b\r\r"], [E("a\nb")]),
]


@pytest.mark.parametrize(("chunks", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decoder(chunks: list[bytes], expected: list[ServerSentEvent]) -> None:
    assert list(iter_sse(chunks)) == expected
