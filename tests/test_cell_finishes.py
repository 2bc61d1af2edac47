"""Issue 11, "the cell always finishes": Stop and explain, many times in one real kernel, each
cell's reply and idle status arriving under its own request; and while an answer streams, the
last status a frontend received says busy, even after JupyterLab's subshell request (whose
reply publishes "idle" from the control thread) lands mid-cell."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import pytest
from kernel_session import KernelSession, widget_of

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

ROUNDS = 20  # each round: a stopped answer, an error, its explanation (~0.6 s together)
CELL_TIMEOUT_S = 20.0
SLOW = 40  # chunks a second: the answer is still streaming when Stop is clicked
LONG_ANSWER = " ".join(f"word{n}" for n in range(2000))


@dataclass
class Cell:
    """Everything iopub carried while one request ran, in order, whatever its parent."""

    msg_id: str
    mine: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[tuple[str, str, str]] = field(default_factory=list)  # (state, parent type, id)
    reply: dict[str, Any] | None = None


@pytest.fixture(scope="module")
def kernel(emulator_kernel: KernelSession) -> KernelSession:
    return emulator_kernel


def run(kernel: KernelSession, code: str, on_message: Any = None) -> Cell:
    """Run `code`; every iopub message is read in order until this request's idle."""
    cell = Cell(kernel.client.execute(code))
    deadline = time.monotonic() + CELL_TIMEOUT_S
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise AssertionError(f"no idle under its own request within {CELL_TIMEOUT_S} s: {code}")
        message = kernel.client.get_iopub_msg(timeout=remaining)
        parent = message["parent_header"]
        if message["msg_type"] == "status":
            state = message["content"]["execution_state"]
            cell.statuses.append((state, parent.get("msg_type", ""), parent.get("msg_id", "")))
        if parent.get("msg_id") != cell.msg_id:
            continue
        cell.mine.append(message)
        if on_message is not None:
            on_message(message, cell)
        if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
            break
    cell.reply = kernel.client.get_shell_msg(timeout=CELL_TIMEOUT_S)
    while cell.reply["parent_header"].get("msg_id") not in _ASKED | {cell.msg_id}:
        # Left over from before this module's cells (wait_for_ready can leave a second
        # kernel_info_reply, and KernelSession.run takes the next shell message as its reply).
        cell.reply = kernel.client.get_shell_msg(timeout=CELL_TIMEOUT_S)
    _ASKED.add(cell.msg_id)
    return cell


_ASKED: set[str] = set()  # every request this module ran: a reply for one of them is a bug


def assert_finished(cell: Cell, status: str = "ok") -> None:
    assert cell.reply is not None
    assert cell.reply["parent_header"]["msg_id"] == cell.msg_id, (
        f"a {cell.reply['msg_type']} for another request ({cell.reply['parent_header']}) "
        f"came instead of this cell's; statuses: {cell.statuses}"
    )
    assert cell.reply["content"]["status"] == status, cell.reply["content"]
    mine = [s for s in cell.statuses if s[2] == cell.msg_id]
    assert mine[0][0] == "busy" and mine[-1][0] == "idle"
    assert [s[0] for s in mine].count("idle") == 1


def create_subshell(kernel: KernelSession) -> str:
    """What JupyterLab 4.6 sends on the control channel when a cell shows its first widget."""
    client = kernel.client
    client.control_channel.send(client.session.msg("create_subshell_request", {}))
    reply = client.get_control_msg(timeout=CELL_TIMEOUT_S)
    return str(reply["content"]["subshell_id"])


def stop_when_text_arrives(kernel: KernelSession, subshell: bool, gap_s: float = 0.05) -> Any:
    """An on_message that clicks Stop twice, `gap_s` apart, once the answer shows text: the
    second click lands at varied moments around the cell's end (pump, queue, between cells)."""
    state: dict[str, Any] = {"stop": None, "clicked": False}

    def on_message(message: dict[str, Any], cell: Cell) -> None:
        widget = widget_of(message)
        if widget and widget[0] == "ButtonModel" and widget[1].get("description") == "Stop":
            state["stop"] = message["content"]["comm_id"]
            if subshell:
                state["subshell"] = create_subshell(kernel)
        text = message["msg_type"] == "comm_msg" and "word" in str(message["content"])
        if text and state["stop"] and not state["clicked"]:
            state["clicked"] = True
            for _ in range(2):
                click = kernel.client.session.msg(
                    "comm_msg",
                    {
                        "comm_id": state["stop"],
                        "data": {"method": "custom", "content": {"event": "click"}},
                    },
                )
                if subshell:
                    click["header"]["subshell_id"] = state["subshell"]
                kernel.client.shell_channel.send(click)
                time.sleep(gap_s)

    return on_message


def test_stop_and_explain_cells_always_finish_under_their_own_request(
    kernel: KernelSession, emulator: Emulator
) -> None:
    for round_ in range(ROUNDS):  # each cell's own hang guard is CELL_TIMEOUT_S
        emulator.script({"content": LONG_ANSWER, "rate": SLOW}, {"content": "Division by zero."})
        clicks = stop_when_text_arrives(kernel, subshell=round_ % 2 == 1, gap_s=0.02 * (round_ % 5))
        stopped = run(kernel, "%%kimi\nA long answer, please.", clicks)
        assert_finished(stopped)
        shown = str([m["content"] for m in stopped.mine if m["msg_type"] != "status"])
        assert "Interrupted" in shown, f"round {round_}: the answer was not marked as stopped"
        assert "word1999" not in shown, f"round {round_}: Stop did not stop the stream"

        failed = run(kernel, "1/0")
        assert_finished(failed, "error")
        explained = run(kernel, "%kimi explain")
        assert_finished(explained)
        assert "Division by zero." in str([m["content"] for m in explained.mine])
        assert_finished(run(kernel, "%kimi config"))


def test_status_says_busy_while_an_answer_streams_after_a_subshell_request(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"content": LONG_ANSWER, "rate": SLOW})
    cell = run(kernel, "%%kimi\nA long answer, please.", stop_when_text_arrives(kernel, True))
    assert_finished(cell)
    # What a frontend's status bar shows is the last status it received, whatever its parent.
    foreign_idle = [
        i for i, s in enumerate(cell.statuses) if s[0] == "idle" and s[2] != cell.msg_id
    ]
    assert foreign_idle, "the subshell request published no idle: the test proves nothing"
    own_idle = cell.statuses.index(("idle", "execute_request", cell.msg_id))
    for index in foreign_idle:
        if index < own_idle:
            later = cell.statuses[index + 1 : own_idle + 1]
            assert later[0] == ("busy", "execute_request", cell.msg_id), (
                f"after {cell.statuses[index]} the status bar read Idle for the rest of the "
                f"running cell: {cell.statuses}"
            )
