"""An in-process IPython shell with kimi_magic loaded, cleaned up after: for the magic tests."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from IPython.core.interactiveshell import InteractiveShell


@contextmanager
def loaded_shell() -> Iterator[InteractiveShell]:
    """A reset shell with `%load_ext kimi_magic`; unloaded, reset and with no %config left after."""
    ip = InteractiveShell.instance()
    ip.reset(new_session=True)
    ip.run_line_magic("load_ext", "kimi_magic")
    try:
        yield ip
    finally:
        ip.run_line_magic("unload_ext", "kimi_magic")
        ip.reset(new_session=True)
        ip.config.pop("KimiMagics", None)
