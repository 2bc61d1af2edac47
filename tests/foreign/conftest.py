"""Fixtures for the foreign-server tests: the server (every body checked against the published
schema), its credentials in the environment, a client and a shell aimed at it."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from foreign_server import (
    ACCOUNT,
    TOKEN,
    ForeignServer,
)
from IPython.core.interactiveshell import InteractiveShell
from ipython_shell import loaded_shell

from kimi_magic import Kimi

# -- fixtures ---------------------------------------------------------------------------------


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[ForeignServer]:
    """A fresh foreign server; afterwards every body it received is checked against the schema."""
    validate: Callable[[Any], None] | None
    try:  # asked for before the test runs: pytest refuses fixtures requested in teardown
        validate = request.getfixturevalue("validate_request")
    except pytest.skip.Exception:
        validate = None
    foreign = ForeignServer()
    try:
        yield foreign
    finally:
        foreign.close()
    assert not foreign.errors, foreign.errors
    for received in foreign.requests if validate is not None else ():
        validate(received.json)


@pytest.fixture
def env(server: ForeignServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ForeignServer:
    """Credentials and base URL of the foreign server in the environment; no config files."""
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", server.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", TOKEN)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    return server


@pytest.fixture
def kimi(env: ForeignServer) -> Iterator[Kimi]:
    with Kimi() as client:
        yield client


@pytest.fixture
def shell(env: ForeignServer) -> Iterator[InteractiveShell]:
    with loaded_shell() as ip:
        yield ip
