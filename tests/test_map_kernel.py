"""map in a real kernel: SIGKILLed halfway, the same cell in a new kernel sends only the rest;
the progress bar is a widget there and leaves a plain-text summary line behind."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pytest

from kimi_magic.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_session import KernelSession, widget_of
from waiting import wait_until

ITEMS = 240
CELL = """
import os, json, kimi_magic
os.chdir({folder!r})
out = kimi_magic.map([f"item {{i:03d}}" for i in range({items})], "Echo {{item}}",
                     concurrency=4, checkpoint="job.jsonl")
print(json.dumps([out.summary.resumed, out.summary.done, len(out.errors),
                  all(f"Echo item {{i:03d}}" in t for i, t in enumerate(out))]))
"""


def sent_items(emulator: Emulator) -> list[str]:
    """The items requested; a request the SIGKILL cut off between its headers and its body
    (the server read no JSON) carried none."""
    return [r["json"]["messages"][-1]["content"] for r in emulator.requests if r["json"]]


def test_a_killed_kernel_rerun_in_a_new_one_sends_only_what_is_missing(tmp_path: Path) -> None:
    cell = CELL.format(folder=str(tmp_path), items=ITEMS)
    checkpoint = tmp_path / "job.jsonl"
    # Each kernel has its own emulator: a request the dead kernel had in flight reaches the
    # first one whenever it does, and never counts as sent by the second kernel.
    with Emulator(token="kill-test-secret") as emu, Emulator(token="kill-test-secret") as emu2:
        emu.configure_load(latency=0.05)

        def env_for(server: Emulator) -> dict[str, str]:
            return {
                "KIMI_MAGIC_BASE_URL": server.base_url,
                "CLOUDFLARE_ACCOUNT_ID": server.account_id,
                "CLOUDFLARE_API_TOKEN": server.token,
                "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
            }

        def answered() -> int:
            return len(checkpoint.read_text().splitlines()) if checkpoint.is_file() else 0

        kernel = KernelSession(env_for(emu))
        try:
            kernel.client.execute(cell)
            wait_until(lambda: answered() >= 60, "the map to answer 60 items")
            os.kill(kernel.pid, signal.SIGKILL)
        finally:
            kernel.close()
        finished = {json.loads(line)["i"] for line in checkpoint.read_text().splitlines()}
        assert 60 <= len(finished) < ITEMS

        emu2.configure_load(latency=0.005)
        with KernelSession(env_for(emu2)) as fresh:
            run = fresh.run(cell, timeout=120)
        assert not run.errors, run.errors
        resumed, done, errors, in_order = json.loads(run.stream_text())

        rest = sorted(f"Echo item {i:03d}" for i in range(ITEMS) if i not in finished)
        assert sorted(sent_items(emu2)) == rest  # only the rest, each once
        assert resumed == len(finished) and done == ITEMS - len(finished)
        assert errors == 0 and in_order
        # What the first kernel had in flight when killed was sent, but never answered to it
        # (read last: whatever was still on its way has had the whole rerun to arrive).
        assert len(emu.requests) - len(finished) <= 4  # (a body cut by the kill counts too)

        bars = [w for m in run.messages if (w := widget_of(m)) and w[0] == "IntProgressModel"]
        assert bars, "a notebook shows an ipywidgets progress bar"
        summary = [
            o["data"]["text/plain"] for o in run.final_outputs() if "text/plain" in o["data"]
        ]
        assert any(
            s.startswith("kimi map: ") and f"{ITEMS} of {ITEMS} items answered" in s
            for s in summary
        )


@pytest.fixture(autouse=True)
def _worktree_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The kernel must import this checkout, whatever the editable install points at."""
    root = str(Path(__file__).resolve().parents[1])
    paths = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        monkeypatch.setenv("PYTHONPATH", os.pathsep.join([root, *paths]))


STOPPABLE = """
import json, kimi_magic
out = kimi_magic.map([f"row {i}" for i in range(200)], "Echo {item}", concurrency=4,
                     checkpoint=False)
print(json.dumps([out.summary.stopped, sum(t is not None for t in out), len(out.errors)]))
"""


@pytest.mark.parametrize("action", ["stop", "interrupt"])
def test_stop_or_interrupt_in_a_kernel_keeps_every_finished_row(action: str) -> None:
    with Emulator(token="stop-test-secret") as emu:
        # The 180 rows left after the action take at least 9 s (45 rounds of 0.2 s): far more
        # than the Stop or interrupt needs to arrive, even on a loaded machine.
        emu.configure_load(latency=0.2)
        env = {
            "KIMI_MAGIC_BASE_URL": emu.base_url,
            "CLOUDFLARE_ACCOUNT_ID": emu.account_id,
            "CLOUDFLARE_API_TOKEN": emu.token,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        with KernelSession(env) as kernel:
            stop_ids: list[str] = []
            acted: list[bool] = []

            def on_message(message: dict, execution: object) -> None:  # type: ignore[type-arg]
                widget = widget_of(message)
                if widget and widget[0] == "ButtonModel" and widget[1].get("description") == "Stop":
                    stop_ids.append(message["content"]["comm_id"])
                state = message["content"].get("data", {}).get("state", {})
                value = state.get("value")  # the bar's count (the label's value is text)
                if isinstance(value, int) and value >= 20 and not acted:
                    acted.append(True)
                    kernel.click(stop_ids[0]) if action == "stop" else kernel.interrupt()

            run = kernel.run(STOPPABLE, on_message=on_message, timeout=60)
        assert acted and not run.errors, run.errors
        stopped, answered, errors = json.loads(run.stream_text())
        assert stopped == ("Stop" if action == "stop" else "interrupt")
        assert 20 <= answered < 200 and errors == 200 - answered
        # Every request that was answered is in the result: nothing paid for is lost.
        assert len(emu.requests) == answered
        # The bar is redrawn a few times a second, not once per answer.
        [bar] = [
            m["content"]["comm_id"]
            for m in run.messages
            if (w := widget_of(m)) and w[0] == "IntProgressModel"
        ]
        redraws = [
            m
            for m in run.messages
            if m["msg_type"] == "comm_msg"
            and m["content"]["comm_id"] == bar
            and "value" in m["content"]["data"].get("state", {})
        ]
        # A rate, not a time limit: a slower run allows more redraws, so load cannot flip it.
        assert len(redraws) <= (run.ended - run.started) * 5 + 3


BATCH_SUBMIT = """
import os, json, kimi_magic
os.chdir({folder!r})
job = kimi_magic.batch_submit([f"q{{i}}" for i in range(25)], "Answer {{item}}",
                              checkpoint="batch.jsonl", poll_interval=0.05, progress=False)
print(json.dumps(str(kimi_magic.batch_status(job))))
"""
BATCH_RESULTS = (
    BATCH_SUBMIT
    + """
out = kimi_magic.batch_results(job)
print(json.dumps([all(f"Answer q{{i}}" in t for i, t in enumerate(out)), len(out.errors)]))
"""
)


def test_a_new_kernel_resumes_polling_a_batch_from_its_saved_request_id(tmp_path: Path) -> None:
    with Emulator(token="batch-kernel-secret") as emu:
        emu.configure_load(batch_polls=6)
        env = {
            "KIMI_MAGIC_BASE_URL": emu.base_url,
            "CLOUDFLARE_ACCOUNT_ID": emu.account_id,
            "CLOUDFLARE_API_TOKEN": emu.token,
            "PYTHONPATH": os.environ.get("PYTHONPATH", ""),
        }
        with KernelSession(env) as kernel:
            first = kernel.run(BATCH_SUBMIT.format(folder=str(tmp_path)))
        assert not first.errors and "25 waiting" in first.stream_text()
        with KernelSession(env) as fresh:  # a restarted kernel runs the same cell
            second = fresh.run(BATCH_RESULTS.format(folder=str(tmp_path)), timeout=60)
        assert not second.errors, second.errors
        in_order, errors = json.loads(second.stream_text().splitlines()[-1])
        assert in_order and errors == 0
        submits = [r for r in emu.requests if r["query"].get("queueRequest") == "true"]
        assert len(submits) == 1  # polled from the saved request id, never resubmitted
