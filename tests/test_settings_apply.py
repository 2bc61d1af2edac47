"""Issue 15, settings that apply: credentials and the base URL read again for every call (a
fixed token works on the next call, a new base URL moves the next request), a context_window
too small for the room kept for the answer refused with what to set, and a context gauge and
fit check that count everything the request carries (tool schemas, response_format)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from _canary import CANARY

import kimi_magic
from kimi_magic import APIStatusError, ConfigurationError, Session
from kimi_magic.emulator import Emulator

WRONG_TOKEN = "wrong-token-0123456789"


@pytest.fixture
def env(emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Emulator:
    """The emulator's credentials and base URL in the environment (as a notebook user has
    them), configuration isolated from this machine."""
    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return emulator


@pytest.fixture
def session(env: Emulator) -> Iterator[Session]:
    made = Session()
    yield made
    made.close()


def answer_of(result: Any) -> Any:
    """The Answer of `Session.ask` (a Turn's `.answer`, or the Answer itself)."""
    return getattr(result, "answer", result)


# -- credentials and the endpoint, read again for every call -----------------------------------


def test_a_session_takes_a_fixed_token_on_the_next_call(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", WRONG_TOKEN)
    with pytest.raises(APIStatusError, match="rejected the API token") as refused:
        session.ask("Say hello.")
    assert refused.value.status == 401
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    assert answer_of(session.ask("Say hello.")).text == "Hello."
    assert [r["authorized"] for r in env.requests] == [False, True]


def test_kimi_magic_ask_takes_a_fixed_token_on_the_next_call(
    env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", WRONG_TOKEN)
    with pytest.raises(APIStatusError, match="rejected the API token"):
        kimi_magic.ask("Say hello.")
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", CANARY)
    assert kimi_magic.ask("Say hello.").text == "Hello."


def test_a_session_follows_a_new_base_url(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(token=CANARY, account_id=env.account_id) as other:
        env.script({"content": "The first server."}, {"content": "The first server again."})
        other.script({"content": "The second server."})
        assert answer_of(session.ask("Who answers?")).text == "The first server."
        monkeypatch.setenv("KIMI_MAGIC_BASE_URL", other.base_url)
        assert answer_of(session.ask("Who answers now?")).text == "The second server."
        monkeypatch.setenv("KIMI_MAGIC_BASE_URL", env.base_url)
        assert answer_of(session.ask("And now?")).text == "The first server again."
        assert len(env.requests) == 2 and len(other.requests) == 1


def test_credentials_removed_after_a_call_are_missed_on_the_next(
    session: Session, env: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.script({"content": "Hello."})
    assert answer_of(session.ask("Say hello.")).text == "Hello."
    monkeypatch.delenv("CLOUDFLARE_API_TOKEN")
    with pytest.raises(ConfigurationError, match="No Cloudflare credentials"):
        session.ask("Say hello again.")
    assert len(env.requests) == 1
