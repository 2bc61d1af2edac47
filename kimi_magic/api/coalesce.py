"""Reading a stream in batches: after each network read, pause briefly so the next events
gather in the socket buffer and arrive in one read.

A server that writes one small event per token (100 a second) would otherwise wake the reader
thread, the HTTP parser and the notebook's event loop once per token, and that per-wakeup cost,
not the parsing, is most of the kernel CPU a stream takes. Each burst also runs the whole
reading stack with cold caches (about 1 ms of CPU a burst, benchmarks/bench_streaming.py), so
bursts are paced to what the live view can show: it sends at most 6 messages a second
(render/live_view.py), so reading 6 times a second loses nothing a user could see. The first
event is never delayed; later ones by at most one pause.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

# Pause after a read that had to wait for the network; what arrives meanwhile comes with the
# next read.
READ_PAUSE_S = 1 / 6
# A chunk that took longer than this to come was waited for: the buffer was empty.
WAITED_S = 0.001


def coalesced(chunks: Iterable[bytes], pause: float = READ_PAUSE_S) -> Iterator[bytes]:
    """`chunks` as they come, pausing on each one the network made us wait for. Chunks
    already buffered pass at once, so a consumer slower than the stream is never slowed.

    A chunk that ends a silence of at least `pause` (the first one, or the first after the
    model paused) passes at once and the pause follows it. In a steady stream the pause comes
    first and the chunk passes with those that gathered meanwhile: one pass through the
    consumer per burst, not a second one for that lone chunk."""
    source = iter(chunks)
    passed = -pause  # when the last chunk was passed on
    while True:
        asked = time.monotonic()
        chunk = next(source, None)
        if chunk is None:
            return
        now = time.monotonic()
        if now - asked < WAITED_S:
            yield chunk
        elif now - passed < pause:
            time.sleep(pause)
            yield chunk
        else:
            yield chunk
            time.sleep(pause)
        passed = time.monotonic()
