"""Trusting a folder's pyproject.toml: `kimi_magic.trust()` / `%kimi trust` record the file's
path and content hash in the user's trust store (core/trust.py says what trust switches on);
`untrust()` takes it back."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.errors import ConfigurationError
from ..core.settings import PYPROJECT, nearest_pyproject, project_restrictions, user_config_path
from ..core.trust import Ignored, TrustStore, digest, store_path


@dataclass(frozen=True)
class TrustChange:
    """What `trust()` / `untrust()` did; its text says it (`%kimi trust` shows that)."""

    path: Path
    trusted: bool
    enables: tuple[Ignored, ...] = ()
    sha256: str = ""
    note: str = ""

    def __str__(self) -> str:
        if not self.trusted:
            return f"{self.path} is no longer trusted{self.note}."
        if self.enables:
            shown = "; ".join(f"{i.name} = {_short(i.value)} ({i.reason})" for i in self.enables)
            what = f"It may now set: {shown}."
        else:
            what = "It sets nothing that needed trust."
        return (
            f"Trusted {self.path} (sha256 {self.sha256[:12]}…). {what} If the file changes, it "
            f"is untrusted again; %kimi untrust takes the trust back.{self.note}"
        )

    __repr__ = __str__


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "…"


def _project_file(path: str | os.PathLike[str] | None, cwd: Path | None) -> Path:
    here = (cwd or Path.cwd()).resolve()
    if path is not None:
        file = (here / Path(path).expanduser()).resolve()
        file = file / PYPROJECT if file.is_dir() else file
        if not file.is_file():
            raise ConfigurationError(f"There is no file {file} to trust; give a pyproject.toml.")
        return file
    found = nearest_pyproject(here)
    if found is None:
        raise ConfigurationError(
            f"There is no pyproject.toml in {here} or any folder above it, so there is nothing "
            "to trust."
        )
    return found


def trust(
    path: str | os.PathLike[str] | None = None,
    *,
    cwd: Path | None = None,
    user_config: Path | None = None,
) -> TrustChange:
    """Trust the nearest pyproject.toml (or `path`) as it is now: its settings then apply in
    full, until its content changes.

    >>> kimi_magic.trust()   # shows the file and what it may now switch on
    """
    file = _project_file(path, cwd)
    content = file.read_bytes()
    store = TrustStore.load(store_path(user_config or user_config_path()))
    enables = tuple(project_restrictions(file, content, cwd).values())
    note = " The unreadable trust store was replaced." if store.problem else ""
    store.trusted[str(file)] = digest(content)
    store.save()
    return TrustChange(file, True, enables, digest(content), note)


def untrust(
    path: str | os.PathLike[str] | None = None,
    *,
    cwd: Path | None = None,
    user_config: Path | None = None,
) -> TrustChange:
    """Take back the trust in the nearest pyproject.toml (or `path`).

    >>> kimi_magic.untrust()
    """
    file = _project_file(path, cwd)
    store = TrustStore.load(store_path(user_config or user_config_path()))
    if store.trusted.pop(str(file), None) is None:
        return TrustChange(file, False, note=" (it was not trusted)")
    store.save()
    return TrustChange(file, False)
