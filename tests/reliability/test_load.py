"""Load: 1,000 sequential streamed calls through the magic in one IPython shell, with open
sockets (file descriptors), threads and memory measured before and after."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from _canary import CANARY
from IPython.core.interactiveshell import InteractiveShell
from matrix import case
from waiting import accepting, wait_until

CALLS = 1_000
WARM_UP = 20
# Bounds: what a leak of one socket, thread or answer per call could not stay under.
MAX_NEW_FDS = 5
MAX_NEW_THREADS = 2
MAX_RSS_GROWTH_MB = 40.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def emulator_process(tmp_path: Path) -> Iterator[str]:
    """The emulator in its own process, so its sockets, threads and memory are not counted."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_magic.emulator", "--port", str(port), "--token", CANARY],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: accepting(port), "the emulator process to accept connections")
        yield f"http://127.0.0.1:{port}/client/v4"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def _measure() -> tuple[int, int, float]:
    gc.collect()
    return _fds(), threading.active_count(), _rss_mb()


@case(
    "load",
    "thousand-streamed-calls",
    f"{CALLS:,} sequential streamed calls through `%kimi --new` in one IPython shell, against "
    "the emulator in its own process.",
    "every call answers; open file descriptors, threads and memory before and after stay "
    f"within {MAX_NEW_FDS} fds, {MAX_NEW_THREADS} threads and {MAX_RSS_GROWTH_MB:g} MB of RSS "
    "(IPython itself keeps every cell's source and output)",
)
def test_a_thousand_streamed_calls(
    emulator_process: str,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator_process)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", "test-account")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    shell = InteractiveShell.instance()
    shell.reset(new_session=True)
    shell.run_line_magic("load_ext", "kimi_magic")
    try:
        for _ in range(WARM_UP):  # imports, the HTTP connection pool, caches
            shell.run_line_magic("kimi", "--new Say hi")
        capsys.readouterr()
        fds, threads, rss = _measure()
        started = time.perf_counter()
        for n in range(CALLS):
            result = shell.run_cell(f"%kimi --new Say hi {n}")
            assert result.error_in_exec is None, f"call {n}: {result.error_in_exec}"
            if n % 100 == 0:
                capsys.readouterr()  # keep the captured output small
        seconds = time.perf_counter() - started
        after_fds, after_threads, after_rss = _measure()
    finally:
        shell.run_line_magic("unload_ext", "kimi_magic")
        shell.reset(new_session=True)
    figures = (
        f"load: {CALLS} calls in {seconds:.1f} s ({seconds / CALLS * 1000:.1f} ms a call); "
        f"fds {fds} -> {after_fds}; threads {threads} -> {after_threads}; "
        f"RSS {rss:.1f} -> {after_rss:.1f} MB"
    )
    with capsys.disabled():
        print("\n" + figures)
    assert after_fds - fds <= MAX_NEW_FDS, figures
    assert after_threads - threads <= MAX_NEW_THREADS, figures
    assert after_rss - rss <= MAX_RSS_GROWTH_MB, figures
