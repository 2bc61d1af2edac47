"""Publishing one markdown output from a kernel without ipykernel's stream flush.

ipykernel's display() first flushes stdout and stderr, and each flush is a round trip to the
kernel's IOPub thread that the caller waits for: about 1 ms of kernel CPU per display, half of
what a display costs (benchmarks/bench_streaming.py). The live view displays a batch of frozen
blocks several times a second while it prints nothing, so it sends the same display_data
message itself. Anywhere that is not a plain ipykernel publisher (IPython's %%capture, a
terminal, a publisher with message hooks) it falls back to display().
"""

from __future__ import annotations

from typing import Any

from IPython import get_ipython
from IPython.display import display


def publish_display(data: dict[str, str]) -> None:
    """display(data, raw=True), without flushing stdout and stderr first where that is safe."""
    publisher: Any = getattr(get_ipython(), "display_pub", None)
    session = getattr(publisher, "session", None)
    socket = getattr(publisher, "pub_socket", None)
    if (
        type(publisher).__name__ != "ZMQDisplayPublisher"
        or session is None
        or socket is None
        or getattr(publisher, "_hooks", None)  # hooks may redirect the message: let them
    ):
        display(data, raw=True)
        return
    content = {"data": data, "metadata": {}, "transient": {}}
    session.send(
        socket, "display_data", content, parent=publisher.parent_header, ident=publisher.topic
    )
