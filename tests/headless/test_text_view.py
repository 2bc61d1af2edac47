"""The view a kernel streams into when no widget frontend answered its probe (nbclient,
nbconvert, papermill, a plain Jupyter client): display-id updates of markdown, no widget comm
at all, and a background answer published again from the cell that waits for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from kernel_session import KernelSession, kernel_aimed_at

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

ANSWER = "\n\n".join(f"Paragraph {i}: some words that keep coming." for i in range(30))


@pytest.fixture(scope="module")
def plain_kernel(
    _emulator_server: Emulator, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[KernelSession]:
    """A kernel driven by a client that answers no comm, as nbclient does."""
    home = tmp_path_factory.mktemp("home")
    with kernel_aimed_at(_emulator_server, home, widgets=False) as session:
        yield session


def test_answer_streams_as_display_updates_and_opens_no_widget(
    plain_kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"reasoning": "Think first.", "content": ANSWER, "chunk_chars": 8, "rate": 200})
    run = plain_kernel.run("%%kimi\nA long answer, please.")

    assert not run.of_type("comm_open", "comm_msg")
    updates = run.of_type("update_display_data")
    assert len(updates) >= 2, "the answer did not stream"
    assert any("Paragraph 0" in u["content"]["data"]["text/plain"] for u in updates[:-1])
    (final,) = run.final_outputs()
    assert "Paragraph 29" in final["data"]["text/markdown"]
    assert "<details><summary>Reasoning</summary>" in final["data"]["text/markdown"]
    assert "kimi_magic" in final["metadata"]


def test_background_answer_is_published_again_from_the_waiting_cell(
    plain_kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"content": "Rivers: Nile, Amazon. BG-DONE", "chunk_chars": 4, "rate": 40})
    asked = plain_kernel.run("%%kimi --bg -o a\nName two rivers.")
    (slot,) = [
        m for m in asked.of_type("display_data") if "display_id" in m["content"]["transient"]
    ]
    display_id = slot["content"]["transient"]["display_id"]

    waited = plain_kernel.run("%kimi wait")

    # Under the waiting cell's own request, so a client that reads only that cell's messages
    # (nbclient) gets it, and it updates the asking cell's slot by its display id.
    again = [
        m
        for m in waited.of_type("update_display_data")
        if m["content"]["transient"]["display_id"] == display_id
    ]
    assert again and "BG-DONE" in again[-1]["content"]["data"]["text/markdown"]
    assert not waited.of_type("comm_open", "comm_msg")
    assert "BG-DONE" in plain_kernel.run("print(a)").stream_text()
