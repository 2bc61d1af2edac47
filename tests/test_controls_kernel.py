"""The controls in a real kernel, as a frontend sees them: the panel in the right side area
(once), a slider moved from the frontend reaching the next request and `%config` moving the
slider, `-n` choices as live tabs then static markdown, and logprobs as coloured HTML."""

from __future__ import annotations

from typing import Any

import pytest
from kernel_session import Execution, KernelSession, widget_of

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook


@pytest.fixture(scope="module")
def kernel(emulator_kernel: KernelSession) -> KernelSession:
    return emulator_kernel


def opened(run: Execution, model: str) -> list[tuple[str, dict[str, Any]]]:
    """(comm id, state) of each widget of `model` the run opened."""
    found = []
    for message in run.messages:
        widget = widget_of(message)
        if widget and widget[0] == model:
            found.append((message["content"]["comm_id"], widget[1]))
    return found


def send_update(kernel: KernelSession, comm_id: str, state: dict[str, Any]) -> None:
    """What the frontend sends when the user moves a control."""
    message = kernel.client.session.msg(
        "comm_msg",
        {"comm_id": comm_id, "data": {"method": "update", "state": state, "buffer_paths": []}},
    )
    kernel.client.shell_channel.send(message)


def test_panel_in_the_side_area_bound_both_ways(kernel: KernelSession, emulator: Emulator) -> None:
    pytest.importorskip("sidecar")
    first = kernel.run("%kimi panel")
    assert not first.errors, first.stream_text("stderr")
    ((side_id, side),) = opened(first, "SidecarModel")
    assert side["anchor"] == "right" and side["title"] == "Kimi K2.6"
    sliders = {state["description"]: comm for comm, state in opened(first, "FloatSliderModel")}
    assert set(sliders) == {"temperature", "top p", "freq. penalty", "pres. penalty"}

    again = kernel.run("%kimi panel")  # the same panel comes forward; nothing is rebuilt
    assert not opened(again, "FloatSliderModel") and not opened(again, "VBoxModel")
    assert any(m["content"]["comm_id"] == side_id for m in again.of_type("comm_close"))
    assert len(opened(again, "SidecarModel")) == 1

    send_update(kernel, sliders["temperature"], {"value": 0.65})
    assert not kernel.run("%kimi hello from the panel").errors
    assert emulator.requests[-1]["json"]["temperature"] == 0.65
    assert kernel.run("%config KimiMagics.temperature").reply["content"]["status"] == "ok"

    moved = kernel.run("%config KimiMagics.temperature = 1.4")
    updates = [
        m["content"]["data"]["state"]
        for m in moved.of_type("comm_msg")
        if m["content"]["comm_id"] == sliders["temperature"]
    ]
    assert {"value": 1.4} in [{k: v for k, v in u.items() if k == "value"} for u in updates]
    kernel.run("%config KimiMagics.temperature = None")


def test_n_choices_stream_into_tabs_then_static_markdown(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script(
        {
            "content": "Use a **bar** chart.",
            "rate": 100,
            "alternatives": ["Use a *line* chart.", "Use a scatter plot."],
        }
    )
    run = kernel.run("%kimi -n 3 --new which chart?")
    assert not run.errors, run.stream_text("stderr")
    ((_, tab),) = opened(run, "TabModel")
    assert tab["titles"] == ["Choice 1", "Choice 2", "Choice 3"]
    streamed = " ".join(
        output["data"].get("text/markdown", "")
        for m in run.of_type("comm_msg")
        for output in m["content"]["data"].get("state", {}).get("outputs") or ()
    )
    assert "scatter" in streamed and "*line*" in streamed  # the tabs filled as text arrived
    outputs = [o for o in run.final_outputs() if "text/markdown" in o.get("data", {})]
    markdown = outputs[-1]["data"]["text/markdown"]
    for i, text in enumerate(
        ("Use a **bar** chart.", "Use a *line* chart.", "Use a scatter plot."), start=1
    ):
        assert f"#### Choice {i} of 3" in markdown and text in markdown
    assert outputs[-1]["metadata"]["kimi_magic"]["parameters"]["n"] == 3
    assert all(
        "application/vnd.jupyter.widget-view+json" not in o["data"] for o in run.final_outputs()
    )
    assert len(run.of_type("comm_open")) == len(run.of_type("comm_close"))


def test_n_choices_error_before_any_answer_leaves_no_tabs(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 403, "code": 5035}})
    run = kernel.run("%kimi -n 2 --new which chart?")
    assert "Workers Paid plan" in run.stream_text("stderr")
    assert all(
        "application/vnd.jupyter.widget-view+json" not in o["data"] for o in run.final_outputs()
    )
    assert len(run.of_type("comm_open")) == len(run.of_type("comm_close"))


def test_logprobs_render_as_coloured_html(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script({"content": "Paris is the capital of France.", "chunk_chars": 7})
    run = kernel.run("%kimi --top-logprobs 3 --new capital?")
    assert not run.errors
    html = next(
        o["data"]["text/html"] for o in run.final_outputs() if "text/html" in o.get("data", {})
    )
    assert html.count('title="') == 5  # one per token (7-character pieces of 31 characters)
    assert "background-color:" in html and "hover a token" in html
