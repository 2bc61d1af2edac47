"""Fixtures for running a user's notebook with headless clients: an emulator the kernels reach
through the environment, and CPU load from two busy loops (hangs under load hide on a quiet
machine)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from kimi_magic.emulator import Emulator

# Variables that would send the kernels elsewhere than the emulator.
FOREIGN = (
    "KIMI_MAGIC_OPENAI_BASE_URL",
    "CF_ACCOUNT_ID",
    "CLOUDFLARE_AUTH_TOKEN",
    "CF_API_TOKEN",
    "KIMI_MAGIC_API_KEY",
)


@pytest.fixture(scope="module")
def headless_emulator() -> Iterator[Emulator]:
    """An emulator, and the environment every kernel, CLI and runner started now inherits to
    reach it (what a user exports before `jupyter nbconvert` or `papermill`)."""
    with Emulator() as emu, pytest.MonkeyPatch.context() as patch:
        for name in FOREIGN:
            patch.delenv(name, raising=False)
        patch.setenv("KIMI_MAGIC_BASE_URL", emu.base_url)
        patch.setenv("CLOUDFLARE_ACCOUNT_ID", emu.account_id)
        patch.setenv("CLOUDFLARE_API_TOKEN", emu.token)
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
