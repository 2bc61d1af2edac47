"""Fixtures of the fault matrix: a fault server with the canary token, clients aimed at it,
and the checks every case makes on what the user is shown."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _canary import CANARY
from _faults import ACCOUNT, FaultServer

from kimi_magic import Kimi


@pytest.fixture(scope="session")
def _fault_server() -> Iterator[FaultServer]:
    server = FaultServer(CANARY)
    yield server
    server.close()


@pytest.fixture
def fault(_fault_server: FaultServer) -> Iterator[FaultServer]:
    """The session's fault server with no script left over; it must not have raised."""
    _fault_server.reset()
    yield _fault_server
    errors = list(_fault_server.errors)
    _fault_server.errors.clear()
    _fault_server.reset()
    assert not errors, errors


@pytest.fixture
def fault_env(fault: FaultServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FaultServer:
    """Credentials (the canary token) and base URL of the fault server; no config files."""
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", fault.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return fault


@pytest.fixture
def make_client(fault_env: FaultServer) -> Iterator[Callable[..., Kimi]]:
    """Kimi clients aimed at the fault server (closed after the test); retries off unless
    asked for, so a failing case shows its message at once."""
    made: list[Kimi] = []

    def make(**options: Any) -> Kimi:
        options.setdefault("max_retries", 0)
        client = Kimi(**options)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()
