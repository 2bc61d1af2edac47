"""One lifecycle, in a real kernel: `%unload_ext kimi_magic` stops a background answer, an MCP
server and a map running on a thread, and leaves no thread and no subprocess of ours behind;
the background answer's `-o` variable is never set afterwards."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kernel_session import KernelSession, kernel_aimed_at
from waiting import wait_until

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook
DEMO = str(Path(__file__).with_name("mcp_demo_server.py"))

# What the kernel runs to count: its threads by name, and its live child processes.
COUNT = """
import json as _j, os as _o, threading as _t
def _children():
    found = []
    for _e in _o.listdir('/proc'):
        if _e.isdigit():
            try:
                _s = open(f'/proc/{_e}/stat').read().rsplit(')', 1)[1].split()
            except OSError:
                continue
            if int(_s[1]) == _o.getpid() and _s[0] != 'Z':
                found.append(int(_e))
    return found
print(_j.dumps({'threads': sorted(t.name for t in _t.enumerate()), 'children': _children()}))
"""


@pytest.fixture(scope="module")
def kernel(
    _emulator_server: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelSession]:
    """A kernel of this module's own (it unloads the extension), aimed at the emulator."""
    home = tmp_path_factory.mktemp("home")
    with kernel_aimed_at(_emulator_server, home) as session:
        yield session


def counts(kernel: KernelSession) -> dict[str, Any]:
    run = kernel.run(COUNT)
    assert not run.errors, run.errors
    return dict(json.loads(run.stream_text()))


def test_unload_stops_background_answers_servers_and_map_workers(
    kernel: KernelSession, emulator: Emulator
) -> None:
    pytest.importorskip("mcp")
    baseline = counts(kernel)
    # A background answer that would stream for 20 s.
    emulator.script({"content": "word " * 400, "chunk_chars": 5, "rate": 20})
    run = kernel.run("%%kimi --bg --new -o x\nlong question")
    assert not run.errors
    kernel.late_messages(run, lambda late: any("word" in str(m["content"]) for m in late))
    # An MCP server, started.
    started = kernel.run(f"%kimi mcp add demo -- {sys.executable} {DEMO}\n%kimi mcp tools demo")
    assert not started.errors and "add: Add two integers." in str(started.messages)
    # A map on a thread, its requests held by the server far longer than the test runs.
    emulator.configure_load(latency=600)
    mapping = kernel.run(
        "import threading, kimi_magic\n"
        "job = threading.Thread(name='user-map', target=lambda: globals().__setitem__("
        "'mapped', kimi_magic.map([f'row {i}' for i in range(8)], 'Echo {item}', "
        "concurrency=4, progress=False)))\n"
        "job.start()"
    )
    assert not mapping.errors
    wait_until(lambda: len(emulator.requests) >= 5, "the map's requests to arrive")
    during = counts(kernel)
    assert "kimi-magic-background" in during["threads"] and "kimi-magic-mcp" in during["threads"]
    assert any(name.startswith("kimi-map") for name in during["threads"])
    assert len(during["children"]) > len(baseline["children"])  # the MCP server

    unloaded = kernel.run("%unload_ext kimi_magic\njob.join(60); print(job.is_alive())")
    assert not unloaded.errors and unloaded.stream_text() == "False\n"
    after = counts(kernel)
    assert after == baseline  # no thread and no subprocess of ours is left
    # The stopped answer never stores its variable, and the map kept what it had.
    check = kernel.run("print('x' in dir(), mapped.summary.done)")
    assert check.stream_text() == "False 0\n"
