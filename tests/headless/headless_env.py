"""The environment of a user who set only KIMI_MAGIC_EMULATOR=1: no credentials, no other
KIMI_MAGIC_* setting, private config and cache folders."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

CLEARED = ("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")


@contextlib.contextmanager
def offline_environment(home: Path) -> Iterator[None]:
    """os.environ as that user's, for the clients and kernels started inside; restored after."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith(CLEARED):
                patch.delenv(name)
        patch.setenv("KIMI_MAGIC_EMULATOR", "1")
        patch.setenv("XDG_CONFIG_HOME", str(home / "config"))
        patch.setenv("XDG_CACHE_HOME", str(home / "cache"))
        yield
