"""Shared fixtures: one emulator per session (reset for each test), the published schema, and
the canary sweep: the suite's API token is searched for in every log record and every file the
tests wrote, after the whole session."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from _canary import CANARY
from ipython_shell import loaded_shell

from kimi_magic.emulator import Emulator

# Cloudflare's published model JSON, copied into the project (schemas/workers-ai/README.md says
# from where), so a fresh clone checks every request with nothing beside the checkout.
SCHEMA_PATH = Path(__file__).resolve().parents[1] / "schemas" / "workers-ai" / "kimi-k2.6.json"


@pytest.fixture(scope="session")
def _emulator_server() -> Iterator[Emulator]:
    """One emulator on a free loopback port for the whole session."""
    with Emulator(token=CANARY) as emu:
        yield emu


class _Records(logging.Handler):
    """Every log record of the session, formatted as a user's handler would show it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record) + repr(record.args))
        except Exception:  # a record that cannot format is no leak
            self.lines.append(str(record.msg))


@pytest.fixture(scope="session", autouse=True)
def canary_sweep(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After the session: the canary token is in no log record and no file under the session's
    temporary folder (saved notebooks, history and save files, cache files, configs)."""
    records = _Records()
    root, ours = logging.getLogger(), logging.getLogger("kimi_magic")
    level = ours.level
    root.addHandler(records)
    ours.setLevel(logging.DEBUG)
    yield
    root.removeHandler(records)
    ours.setLevel(level)
    leaks = [line for line in records.lines if CANARY in line]
    base = tmp_path_factory.getbasetemp()
    for path in base.rglob("*"):
        try:
            if path.is_file() and CANARY.encode() in path.read_bytes():
                leaks.append(f"file {path}")
        except OSError:
            continue
    assert not leaks, "The API token leaked into:\n" + "\n".join(leaks[:20])


@pytest.fixture
def emulator_connection(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> dict[str, Any]:
    """Keywords that aim a Session, Kimi, ask() or map at the emulator, with configuration
    isolated from this machine: no KIMI_MAGIC_* variables, no config files, a private cwd."""
    import os

    for name in list(os.environ):
        if name.startswith("KIMI_MAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return {
        "base_url": emulator.base_url,
        "account_id": emulator.account_id,
        "api_token": emulator.token,
    }


@pytest.fixture(scope="module")
def emulator_kernel(
    _emulator_server: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    """A real python3 kernel (shared by a test module) with kimi_magic loaded, aimed at the
    session emulator, its config and cache folders private, its working folder a temporary one."""
    from kernel_session import kernel_aimed_at

    home = tmp_path_factory.mktemp("home")
    with kernel_aimed_at(_emulator_server, home) as session:
        yield session


@pytest.fixture
def emulator(_emulator_server: Emulator) -> Iterator[Emulator]:
    """The session emulator with an empty queue, no recorded requests and default config."""
    _emulator_server.reset()
    yield _emulator_server
    errors = list(_emulator_server.server_errors)
    _emulator_server.reset()
    assert not errors, "The emulator raised while serving:\n" + "\n".join(errors)


@pytest.fixture(scope="session")
def schema() -> dict[str, Any]:
    """`schema.input.anyOf[0]` of Cloudflare's model JSON: one request (Prompt | Messages).

    `anyOf[1]` is the batch form and requires nothing, so the whole `schema.input` accepts any
    object; a single request must be checked against `anyOf[0]`.
    """
    data = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    single: dict[str, Any] = data["schema"]["input"]["anyOf"][0]
    return single


@pytest.fixture(scope="session")
def validate_request(schema: dict[str, Any]) -> Callable[[dict[str, Any]], None]:
    """A function that raises `jsonschema.ValidationError` for a body the schema rejects.

    The model JSON declares no `$schema`; its keywords (`anyOf`, `oneOf`, `minLength`) mean the
    same in every modern draft, so we use jsonschema's newest, Draft 2020-12.
    """
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema)

    def validate(body: dict[str, Any]) -> None:
        validator.validate(body)

    return validate


@pytest.fixture
def kimi_shell(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """A fresh in-process IPython shell (no kernel) with kimi_magic, aimed at the emulator."""

    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    monkeypatch.delenv("KIMI_MAGIC_OPENAI_BASE_URL", raising=False)
    with loaded_shell() as ip:
        yield ip


@pytest.fixture
def controls_shell(
    kimi_shell: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """`kimi_shell` with configuration isolated: no config files, no KIMI_MAGIC_* settings in the
    environment, a private response cache, and no `%config KimiMagics` left for the next test."""
    import os

    for name in list(os.environ):
        if name.startswith("KIMI_MAGIC_") and name != "KIMI_MAGIC_BASE_URL":
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)  # no pyproject.toml above tmp_path
    yield kimi_shell
    kimi_shell.config.pop("KimiMagics", None)


@pytest.fixture
def schema_checked(request: pytest.FixtureRequest) -> Iterator[None]:
    """After the test, check every body the emulator received against the published schema.
    Use it in tests that send only valid requests."""
    emulator = request.getfixturevalue("emulator")
    validate = request.getfixturevalue("validate_request")
    yield
    for sent in emulator.requests:
        validate(sent["json"])
