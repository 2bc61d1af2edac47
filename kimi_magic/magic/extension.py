"""Loading and unloading the extension, and the notebook-level calls of the Python API
(`kimi_magic.panel()`, `kimi_magic.wait()`) that need the loaded magic."""

from __future__ import annotations

import atexit
from typing import TYPE_CHECKING, Any

from ..core.errors import ConfigurationError
from .input_transform import protect_question_marks
from .magics import KimiMagics

if TYPE_CHECKING:
    from IPython.core.interactiveshell import InteractiveShell

REGISTRY_NAME = "KimiMagics"


def load(ipython: InteractiveShell) -> KimiMagics:
    """Register `%kimi` / `%%kimi` and the notebook hooks; nothing is sent yet."""
    magics = KimiMagics(shell=ipython)
    ipython.register_magics(magics)
    atexit.register(magics.close)  # at exit too: background answers, servers, map jobs
    magics.context.install(ipython)  # remembers displayed images and cell errors from now on
    if protect_question_marks not in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.append(protect_question_marks)
    from ..render.frontend import probe_frontend

    probe_frontend()  # answered by the time the first question runs, where it is answered
    return magics


def unload(ipython: InteractiveShell) -> None:
    """Undo `load`: the input transformer, the hooks, the connections."""
    if protect_question_marks in ipython.input_transformers_cleanup:
        ipython.input_transformers_cleanup.remove(protect_question_marks)
    magics = loaded(ipython)
    if magics is not None:
        magics.context.uninstall()
        magics.close()
        atexit.unregister(magics.close)
    # Otherwise `%config KimiMagics.x` after a reload could read or set the old instance.
    ipython.configurables[:] = [
        c for c in ipython.configurables if type(c).__name__ != REGISTRY_NAME
    ]
    # IPython has no unregister: without this `%kimi` still answers after %unload_ext, and
    # `kimi_magic.map` would find the closed instance as "the notebook's session".
    manager = getattr(ipython, "magics_manager", None)
    if manager is not None and isinstance(manager.registry.get(REGISTRY_NAME), KimiMagics):
        del manager.registry[REGISTRY_NAME]
        for kind in ("line", "cell"):
            table = manager.magics.get(kind, {})
            bound = table.get("kimi")
            if getattr(bound, "__self__", None) is magics:
                del table["kimi"]


def loaded(ipython: Any) -> KimiMagics | None:
    manager = getattr(ipython, "magics_manager", None)
    magics = manager.registry.get(REGISTRY_NAME) if manager is not None else None
    return magics if isinstance(magics, KimiMagics) else None


def _current(load_if_needed: bool) -> KimiMagics | None:
    from IPython import get_ipython

    ipython = get_ipython()
    if ipython is None:
        raise ConfigurationError(
            "This needs a notebook or IPython: run it in a Jupyter cell after %load_ext kimi_magic."
        )
    magics = loaded(ipython)
    if magics is None and load_if_needed:
        magics = load(ipython)
    return magics


def open_panel_from_python(where: str) -> Any:
    """`kimi_magic.panel()`: loads the extension if needed and opens its panel."""
    from .panel import open_panel

    magics = _current(load_if_needed=True)
    if magics is None:
        raise RuntimeError("kimi_magic.panel() needs IPython: run it in a notebook or IPython.")
    return open_panel(magics, where)


def wait_for_background(timeout: float | None) -> bool:
    """`kimi_magic.wait()`: True once no background answer is streaming. Outside IPython
    (a script) no background answer can exist, so it returns True at once."""
    from IPython import get_ipython

    if get_ipython() is None:
        return True
    magics = _current(load_if_needed=False)
    return True if magics is None else magics.wait_for_background(timeout)
