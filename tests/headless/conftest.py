"""Fixtures for running a user's notebook with headless clients: an emulator the kernels reach
through the environment, and CPU load from two busy loops (hangs under load hide on a quiet
machine)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest
from kernel_session import aim_environment

from kimi_magic.emulator import Emulator


@pytest.fixture(scope="module")
def headless_emulator() -> Iterator[Emulator]:
    """An emulator, and the environment every kernel, CLI and runner started now inherits to
    reach it (what a user exports before `jupyter nbconvert` or `papermill`)."""
    with Emulator() as emu, pytest.MonkeyPatch.context() as patch:
        aim_environment(patch, emu)
        yield emu
        assert not emu.server_errors, "\n".join(emu.server_errors)


@pytest.fixture
def busy_loops() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Two processes that keep two cores busy while the test runs; ended by their pids."""
    loops = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        yield loops
    finally:
        for loop in loops:
            loop.kill()
            loop.wait()
