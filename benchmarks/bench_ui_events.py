"""What `process_ui_events()` costs where it has nothing to do, and what redaction of an
adversarial prompt costs: the timing figures the tests used to assert, printed instead.

    python benchmarks/bench_ui_events.py         # a few seconds

`process_ui_events()` is called in every poll of a waiting cell; outside a kernel (a terminal
IPython, plain Python) it must be a near-free no-op. Redaction runs on every prompt; on the
adversarial inputs of tests/reliability/test_faults_inputs.py it must stay linear (a few
seconds at most for 3 MB), never backtrack.
"""

from __future__ import annotations

import importlib.util
import sys
import time
import types
from pathlib import Path

import IPython

ROOT = Path(__file__).resolve().parents[1]
CALLS = 100_000


def no_op_cost() -> float:
    """Microseconds per `process_ui_events()` call in a shell without a kernel."""
    path = ROOT / "kimi_magic" / "render" / "ui_events.py"
    spec = importlib.util.spec_from_file_location("_bench_ui_events", path)
    assert spec is not None and spec.loader is not None
    ui = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ui)
    sys.modules.setdefault("ipykernel", types.ModuleType("ipykernel"))
    original = IPython.get_ipython
    IPython.get_ipython = lambda: types.SimpleNamespace()  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        for _ in range(CALLS):
            ui.process_ui_events()
        return (time.perf_counter() - started) / CALLS * 1e6
    finally:
        IPython.get_ipython = original  # type: ignore[assignment]


def redaction_seconds() -> dict[str, float]:
    """Seconds to redact each adversarial prompt of the fault matrix."""
    sys.path.insert(0, str(ROOT / "tests" / "reliability"))
    sys.path.insert(0, str(ROOT / "tests"))
    from test_faults_inputs import ADVERSARIAL

    from kimi_magic.core.secrets import Redactor

    redactor = Redactor.collect(environ={})
    figures = {}
    for name, text in ADVERSARIAL.items():
        started = time.perf_counter()
        redactor.redact(text)
        figures[name] = time.perf_counter() - started
    return figures


def main() -> None:
    print(f"process_ui_events() with no kernel: {no_op_cost():.2f} µs a call (target < 1000)")
    for name, seconds in redaction_seconds().items():
        print(f"redaction of {name!r}: {seconds:.2f} s (target < 5 s on a quiet machine)")


if __name__ == "__main__":
    main()
