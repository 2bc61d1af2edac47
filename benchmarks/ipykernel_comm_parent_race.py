"""Reproduce an ipykernel 7.4 race: a cell's idle status published under another request.

When a comm message (a widget click) reaches the main shell while an *async* cell A holds the
shell lock, ipykernel 7.4's `shell_main` handles it concurrently and, after awaiting it,
restores the shell parent it read before (`finally: self.set_parent(shell_ident,
shell_parent)`). All main-shell tasks share one contextvars.Context, so if A ended and the
next cell D started meanwhile, D's parent is overwritten with A's: D's idle goes out under A's
request, and the frontend shows D as running forever (nbclient waits its whole timeout).
Sync cells are not affected (A holds no await across its end); kimi_magic's cells are sync.

    python benchmarks/ipykernel_comm_parent_race.py [async|sync] [trials]

Prints each trial whose second cell never got its own idle, and the count (measured
2026-12-02: async 1 of 40 and 1 of 60, at a click ~2 ms after A's end; sync 0 of 60).
"""

from __future__ import annotations

import queue
import sys
import time
from typing import Any

CELLS = {
    "async": ("await asyncio.sleep(0.3)", "await asyncio.sleep(0.2)\n1"),
    "sync": ("time.sleep(0.3)", "time.sleep(0.2)\n1"),
}
SETUP = (
    "import asyncio, time, ipywidgets as w\n"
    "b = w.Button()\nb.on_click(lambda _: None)\nprint(b.model_id)"
)


def own_idle(client: Any, msg_id: str, seen: list[tuple[str, str]], timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            message = client.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            continue
        if message["msg_type"] == "status":
            parent = message["parent_header"].get("msg_id", "")
            state = message["content"]["execution_state"]
            seen.append((state, parent[-6:]))
            if state == "idle" and parent == msg_id:
                return True
    return False


def main(kind: str = "async", trials: int = 60) -> None:
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        setup = client.execute(SETUP)
        comm_id = ""
        while True:
            message = client.get_iopub_msg(timeout=30)
            if message["parent_header"].get("msg_id") != setup:
                continue
            if message["msg_type"] == "stream":
                comm_id = message["content"]["text"].strip()
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        first, second = CELLS[kind]
        lost = 0
        for trial in range(trials):
            delay = 0.28 + 0.002 * (trial % 40)  # the click lands around the first cell's end
            a, d = client.execute(first), client.execute(second)
            time.sleep(delay)
            click = {
                "comm_id": comm_id,
                "data": {"method": "custom", "content": {"event": "click"}},
            }
            client.shell_channel.send(client.session.msg("comm_msg", click))
            seen: list[tuple[str, str]] = []
            if not (own_idle(client, a, seen) and own_idle(client, d, seen)):
                lost += 1
                print(f"trial {trial}: click at {delay:.3f} s; statuses {seen}", flush=True)
            while True:  # the replies, not read above
                try:
                    client.get_shell_msg(timeout=0.3)
                except queue.Empty:
                    break
        print(f"{kind} cells: {lost} of {trials} second cells never got their own idle")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


if __name__ == "__main__":
    main(*(sys.argv[1:2] or ["async"]), *(int(n) for n in sys.argv[2:3]))
