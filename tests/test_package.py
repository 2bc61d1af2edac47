"""What a user's tools see of the package: type hints are shipped, and a star-import leaves the
builtins alone."""

from __future__ import annotations

import builtins
from pathlib import Path

import kimi_magic


def test_type_hints_are_shipped() -> None:
    # PEP 561: without py.typed a user's type checker ignores every hint in the package.
    assert (Path(kimi_magic.__file__).parent / "py.typed").is_file()


def test_star_import_shadows_no_builtin() -> None:
    namespace: dict[str, object] = {}
    exec("from kimi_magic import *", namespace)
    shadowed = sorted(set(namespace) & set(dir(builtins)) - {"__builtins__"})
    assert shadowed == []
    assert callable(kimi_magic.map)  # still there by its full name
