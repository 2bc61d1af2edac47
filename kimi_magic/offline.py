"""One-step offline use: with `KIMI_MAGIC_EMULATOR=1` in the environment, the extension (and the
Python API) starts an emulator in this process and aims at it, so JupyterLab, nbconvert and
papermill need no server to run and no credentials (docs/design.md section 5).

    export KIMI_MAGIC_EMULATOR=1
    jupyter nbconvert --execute --to notebook notebooks/01-quickstart.ipynb

Replies are simulated, and the note this module returns says so where it starts.
"""

from __future__ import annotations

import atexit
import os
import threading
from collections.abc import MutableMapping
from typing import TYPE_CHECKING

from .core.constants import (
    ENV_ACCOUNT_ID,
    ENV_API_TOKEN,
    ENV_BASE_URL,
    ENV_EMULATOR,
    ENV_OPENAI_BASE_URL,
)

if TYPE_CHECKING:
    from .emulator import Emulator

STREAM_RATE = 200  # chunks per second: an answer streams as it would, and quickly
ON = frozenset({"1", "true", "yes", "on"})

_lock = threading.Lock()
_running: list[Emulator] = []  # this process's one emulator, once started


def wanted(environ: MutableMapping[str, str] | None = None) -> bool:
    """Whether the environment asks for the in-process emulator."""
    env = os.environ if environ is None else environ
    return env.get(ENV_EMULATOR, "").strip().lower() in ON


def start_if_asked(environ: MutableMapping[str, str] | None = None) -> str | None:
    """When KIMI_MAGIC_EMULATOR is on: start this process's emulator (once), point the
    environment's endpoint variables at it and return the note for the user; else None."""
    env = os.environ if environ is None else environ
    if not wanted(env):
        return None
    with _lock:
        if not _running:
            from .emulator import Emulator

            emulator = Emulator(rate=STREAM_RATE).start()
            atexit.register(emulator.stop)
            _running.append(emulator)
        emulator = _running[0]
        env.pop(ENV_OPENAI_BASE_URL, None)
        env[ENV_BASE_URL] = emulator.base_url
        env[ENV_ACCOUNT_ID[0]] = emulator.account_id
        env[ENV_API_TOKEN[0]] = emulator.token
    return (
        f"{ENV_EMULATOR} is set, so replies are SIMULATED by the kimi_magic emulator running in "
        f"this process ({emulator.base_url}), not sent to Kimi K2.6. Unset {ENV_EMULATOR} and "
        "set CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN to talk to the real model."
    )
