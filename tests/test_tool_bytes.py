"""The live view keeps its bounded cost with tools: in a real kernel, the bytes published for
an answer with five tool calls stay a small multiple of a plain answer of the same text.

The 2x target is the benchmark's (`python benchmarks/bench_tools.py` prints the figure): the
bytes depend on how often the view re-renders, which a loaded machine changes. Here only the
bound that tells linear from quadratic is checked (re-sending the text gives over 10x)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytestmark = pytest.mark.notebook

BENCH = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_tools.py"


def test_five_tool_calls_cost_less_than_twice_a_plain_answer() -> None:
    spec = importlib.util.spec_from_file_location("bench_tools", BENCH)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    figures = bench.measure()
    assert figures["plain_bytes"] > figures["answer_chars"]  # the answer was shown at all
    assert figures["ratio"] < 4.0, figures
