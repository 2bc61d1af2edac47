"""map and batch jobs in a real kernel, as a user runs them: `kimi_magic.map` in a cell runs in
the notebook's session, so `%kimi usage` lists the jobs and the session's cap refuses them; a
bad source and a refusal show as one paragraph, not a traceback."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from kernel_session import KernelSession

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook


@pytest.fixture(autouse=True)
def _worktree_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel must import this checkout, whatever the editable install points at."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, *paths]))


@pytest.fixture(scope="module")
def kernel(emulator_kernel: KernelSession) -> KernelSession:
    assert not emulator_kernel.run("import kimi_magic").errors
    return emulator_kernel


def shown(run: object) -> str:
    """Everything a run displayed as text (markdown first, where there is one)."""
    texts = []
    for output in run.final_outputs():  # type: ignore[attr-defined]
        data = output["data"]
        texts.append(data.get("text/markdown") or data.get("text/plain") or "")
    return "\n".join(texts)


def test_usage_lists_a_map_and_a_batch_job_with_cost_and_cached_tokens(
    kernel: KernelSession, emulator: Emulator
) -> None:
    cell = """
instruction = "You label things with one word. " * 20
mapped = kimi_magic.map([f"m{i}" for i in range(6)], "{item}", instruction=instruction,
                        checkpoint=False, progress=False)
batched = kimi_magic.map([f"b{i}" for i in range(4)], "{item}", batch=True,
                         checkpoint=False, progress=False, poll_interval=0.01)
print(mapped.summary.cost, batched.summary.cost)
"""
    ran = kernel.run(cell)
    assert not ran.errors, ran.errors
    usage = kernel.run("%kimi usage")
    assert not usage.errors, usage.errors
    rows = {
        line.split("|")[1].strip(): [cell.strip() for cell in line.split("|")[2:-1]]
        for line in shown(usage).splitlines()
        if line.startswith("| map ") or line.startswith("| batch ")
    }
    [map_row] = [v for k, v in rows.items() if k.startswith("map ")]
    [batch_row] = [v for k, v in rows.items() if k.startswith("batch ")]
    calls, _, cached, _, cost = map_row
    assert calls == "6" and int(cached.replace(",", "")) > 0 and cost != "\\$0.0000"
    assert batch_row[0] == "4" and batch_row[4] != "\\$0.0000"


def test_a_session_at_its_cap_refuses_a_map_in_one_paragraph(
    kernel: KernelSession, emulator: Emulator
) -> None:
    assert not kernel.run("%config KimiMagics.max_cost = 0.000001").errors
    try:
        assert not kernel.run("%kimi Say hello").errors  # the session is at its cap now
        sent = len(emulator.requests)
        refused = kernel.run('out = kimi_magic.map(["a", "b", "c"], "Echo {item}")')
        assert not kernel.run('rows = ["a", "b"]').errors
        magic = kernel.run("%%kimi --map rows\nEcho {item}")
        assert len(emulator.requests) == sent  # nothing was sent
    finally:
        kernel.run("%config KimiMagics.max_cost = None")
    [error] = refused.errors
    assert error["content"]["ename"] == "SpendingCapError"
    [paragraph] = error["content"]["traceback"]  # one paragraph, no traceback
    assert "spending cap" in paragraph and "nothing was sent" in paragraph
    said = "".join(str(e["content"]) for e in magic.errors) + magic.stream_text("stderr")
    assert "spending cap" in said, magic.messages


def test_a_bad_source_in_a_cell_is_one_paragraph(kernel: KernelSession, emulator: Emulator) -> None:
    run = kernel.run('kimi_magic.map(42, "Echo {item}")')
    [error] = run.errors
    [paragraph] = error["content"]["traceback"]
    assert "not a int" in paragraph and "nothing was sent" in paragraph
    assert "TypeError" not in paragraph and emulator.requests == []
