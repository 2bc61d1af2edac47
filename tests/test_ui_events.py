"""process_ui_events(): widget clicks are handled *during* a running sync cell, in a real kernel."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

MODULE_PATH = Path(__file__).resolve().parents[1] / "kimi_magic" / "render" / "ui_events.py"

# Loaded by path (in the kernel and here) so the test exercises exactly this file,
# independent of the rest of the package.
LOAD = f"""
import importlib.util as _ilu
_spec = _ilu.spec_from_file_location("_kimi_ui_events", {str(MODULE_PATH)!r})
ui = _ilu.module_from_spec(_spec)
_spec.loader.exec_module(ui)
"""

SETUP = (
    LOAD
    + """
import time
import ipywidgets as widgets
flag = []
button = widgets.Button(description="Stop")
def _on_click(_b):
    flag.append(time.monotonic())
    print("CLICK-OUTPUT")
button.on_click(_on_click)
print("MODEL", button.model_id)
"""
)

# A synchronous cell (no await) that polls until the button is clicked, giving up after
# 20 s (the user's own limit, shorter than the test's hang guard TIMEOUT). Whether the
# flag was set by then says whether the click was handled while the cell ran.
POLL_CELL = """
t0 = time.monotonic()
print("LOOP-START", flush=True)
while not flag and time.monotonic() - t0 < 20:
    ui.process_ui_events()
    time.sleep(0.05)
print("CELL-END clicked_in_cell=%s" % bool(flag))
"""

TIMEOUT = 60  # a hang guard per cell, longer than the poll cell gives itself


@pytest.fixture(scope="module")
def kernel() -> Iterator[tuple[Any, Any, str]]:
    pytest.importorskip("ipykernel")
    pytest.importorskip("ipywidgets")
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", startup_timeout=60)
    try:
        msg_id = kc.execute(SETUP)
        msgs = _collect(kc, msg_id)
        assert not _errors(msgs), _errors(msgs)
        model_id = _text(msgs, msg_id).split("MODEL", 1)[1].split()[0]
        yield km, kc, model_id
    finally:
        kc.stop_channels()
        km.shutdown_kernel()


def _collect(kc: Any, until_idle_of: str, on_msg: Any = None) -> list[dict[str, Any]]:
    """IOPub messages until `until_idle_of`'s request reports idle."""
    msgs: list[dict[str, Any]] = []
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        msg = kc.get_iopub_msg(timeout=TIMEOUT)
        msgs.append(msg)
        if on_msg is not None:
            on_msg(msg)
        if (
            msg["msg_type"] == "status"
            and msg["content"]["execution_state"] == "idle"
            and msg["parent_header"].get("msg_id") == until_idle_of
        ):
            return msgs
    raise AssertionError("kernel did not go idle in time")


def _text(msgs: list[dict[str, Any]], parent_id: str) -> str:
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["parent_header"].get("msg_id") == parent_id
    )


def _errors(msgs: list[dict[str, Any]]) -> list[str]:
    return [
        f"{m['content']['ename']}: {m['content']['evalue']}"
        for m in msgs
        if m["msg_type"] == "error"
    ]


def _click(kc: Any, model_id: str) -> str:
    content = {"comm_id": model_id, "data": {"method": "custom", "content": {"event": "click"}}}
    msg = kc.session.msg("comm_msg", content)
    kc.shell_channel.send(msg)
    return str(msg["header"]["msg_id"])


def _clicked_in_cell(cell_text: str) -> bool:
    """Whether the cell saw the click's effect before it ended (its output says)."""
    assert "CELL-END" in cell_text, cell_text
    return "CELL-END clicked_in_cell=True" in cell_text


def _reset_flag(kc: Any) -> None:
    msg_id = kc.execute("flag.clear()")
    assert not _errors(_collect(kc, msg_id))


def test_click_is_handled_during_sync_cell(kernel: tuple[Any, Any, str]) -> None:
    _, kc, model_id = kernel
    _reset_flag(kc)
    clicks: list[str] = []

    def click_once_looping(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and "LOOP-START" in msg["content"]["text"] and not clicks:
            # The cell is in (or entering) its poll loop; the click waits on the shell channel.
            clicks.append(_click(kc, model_id))

    cell_id = kc.execute(POLL_CELL)
    msgs = _collect(kc, cell_id, on_msg=click_once_looping)
    assert not _errors(msgs), _errors(msgs)
    assert clicks, "cell never started its loop"
    cell_text = _text(msgs, cell_id)
    # Without process_ui_events the click would only run after the cell gave up waiting.
    assert _clicked_in_cell(cell_text), cell_text
    # The callback's output belongs to the click, the cell's output to the cell:
    # the parent header was switched for the callback and restored afterwards.
    assert _text(msgs, clicks[0]) == "CLICK-OUTPUT\n"
    assert "CLICK-OUTPUT" not in cell_text


def test_queued_execute_request_runs_after_the_cell(kernel: tuple[Any, Any, str]) -> None:
    _, kc, model_id = kernel
    _reset_flag(kc)
    sent: dict[str, str] = {}

    def queue_then_click(msg: dict[str, Any]) -> None:
        if msg["msg_type"] == "stream" and "LOOP-START" in msg["content"]["text"] and not sent:
            # The user queues the next cell, then presses Stop: the poll loop sees the
            # execute_request first and must defer it, not run it nested.
            # Both go on the one shell socket, so the kernel receives them in this order.
            sent["next"] = kc.execute("print('NEXT-CELL clicked=%s' % bool(flag))")
            sent["click"] = _click(kc, model_id)

    cell_id = kc.execute(POLL_CELL)
    msgs = _collect(kc, cell_id, on_msg=queue_then_click)
    assert sent, "cell never started its loop"
    msgs += _collect(kc, sent["next"])
    assert not _errors(msgs), _errors(msgs)

    cell_text = _text(msgs, cell_id)
    assert _clicked_in_cell(cell_text), cell_text
    assert _text(msgs, sent["next"]) == "NEXT-CELL clicked=True\n"

    # Order on IOPub: the whole first cell (including its idle status) precedes the
    # queued cell's execute_input.
    def index(pred: Any) -> int:
        return next(i for i, m in enumerate(msgs) if pred(m))

    first_idle = index(
        lambda m: (
            m["msg_type"] == "status"
            and m["content"]["execution_state"] == "idle"
            and m["parent_header"].get("msg_id") == cell_id
        )
    )
    next_input = index(
        lambda m: (
            m["msg_type"] == "execute_input" and m["parent_header"].get("msg_id") == sent["next"]
        )
    )
    assert first_idle < next_input

    reply = kc.get_shell_msg(timeout=TIMEOUT)
    while reply["parent_header"].get("msg_id") != sent["next"]:
        reply = kc.get_shell_msg(timeout=TIMEOUT)
    assert reply["content"]["status"] == "ok"


def test_noop_without_kernel_in_process(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = importlib.util.spec_from_file_location("_kimi_ui_events_local", MODULE_PATH)
    assert spec is not None and spec.loader is not None
    ui = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ui)

    # Terminal IPython: a shell without a .kernel attribute, with ipykernel importable.
    import IPython

    monkeypatch.setitem(
        sys.modules, "ipykernel", sys.modules.get("ipykernel", types.ModuleType("ipykernel"))
    )
    monkeypatch.setattr(IPython, "get_ipython", lambda: types.SimpleNamespace())
    # Its cost per call is a figure for benchmarks/bench_ui_events.py, not a limit here.
    assert ui.process_ui_events() is None

    # Not under IPython at all.
    monkeypatch.setattr(IPython, "get_ipython", lambda: None)
    assert ui.process_ui_events() is None


def test_noop_in_plain_script() -> None:
    script = LOAD + "\nfor _ in range(3):\n    ui.process_ui_events()\nprint('OK')\n"
    out = subprocess.run(
        [sys.executable, "-W", "error", "-c", script],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "OK", out.stderr
