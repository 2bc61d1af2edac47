"""`%kimi export FILE.md` / `FILE.ipynb` and `Conversation.to_markdown` / `to_notebook`: a
conversation with reasoning, an image, a run_python tool round and a broken-off answer, written
as a readable document and as a notebook that validates with nbformat; no token is written."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.core.constants import ENV_API_TOKEN, ENV_GATEWAY_TOKEN, ENV_OPENAI_API_KEY
from kimi_magic.emulator import Emulator

nbformat = pytest.importorskip("nbformat")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")
CODE = "total = 6 * 7\nprint(total)"
# The agent's code shows a picture too (run_python keeps it for the model): the export shows it.
SHOWS = (
    "import base64\nfrom IPython.display import Image, display\n"
    "display(Image(base64.b64decode(png.split(',')[1])))\n"
)


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


@pytest.fixture
def chatted(controls_shell: Any, emulator: Emulator) -> Any:
    """A conversation: an image question answered with reasoning, a run_python round whose
    answer quotes the API token, and an answer the connection broke off."""
    controls_shell.user_ns["png"] = DATA_URL
    emulator.script(
        {"content": "A single pixel.", "reasoning": "Tiny image, one colour."},
        {"tool_calls": [{"name": "run_python", "arguments": {"code": SHOWS + CODE}}]},
        {"content": f"It printed 42. (Your token {emulator.token} was not needed.)"},
        {"content": "Half an answer that", "fault": {"type": "disconnect", "after_chunks": 2}},
    )
    controls_shell.run_cell("%kimi --image png what is this?")
    controls_shell.run_cell_magic("kimi", "--tools python --approve auto", "compute 6 times 7")
    controls_shell.run_cell("%kimi and explain it at length")
    conversation = magics(controls_shell).session.conversation()
    assert len(conversation.exchanges) == 3
    assert not conversation.exchanges[-1].answer.complete
    return conversation


def test_export_markdown_is_a_readable_document(
    controls_shell: Any, emulator: Emulator, chatted: Any, tmp_path: Path
) -> None:
    result = controls_shell.run_cell("%kimi export chat.md")
    assert result.error_in_exec is None, result.error_in_exec
    text = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert emulator.token not in text and "It printed 42." in text
    assert text.index("## 1. You") < text.index("what is this?") < text.index("A single pixel.")
    assert "<details><summary>Reasoning</summary>\n\nTiny image, one colour." in text
    assert "![image 1](chat_files/img-1.png)" in text
    assert (tmp_path / "chat_files" / "img-1.png").read_bytes() == PNG
    assert "<details><summary>Tool call: <code>run_python</code></summary>" in text
    assert f"```python\n{SHOWS}{CODE}\n```" in text
    assert "![image 2](chat_files/img-2.png)" in text  # what the agent's code showed
    assert (tmp_path / "chat_files" / "img-2.png").read_bytes() == PNG
    assert "<details><summary>Result of <code>run_python</code></summary>" in text
    assert "42" in text.split("Result of <code>run_python</code>")[1].split("</details>")[0]
    assert "Half an" in text and "> ⚠ Partial answer (truncated)." in text  # a broken stream
    assert "<sub>usage not reported for an answer cut short</sub>" in text  # not "in 0 · $0"
    usage = text.split("## Usage")[1]
    assert "3 answers · in " in usage and "$" in usage


def test_export_notebook_validates_and_keeps_the_order(
    controls_shell: Any, emulator: Emulator, chatted: Any, tmp_path: Path
) -> None:
    result = controls_shell.run_cell("%kimi export chat.ipynb")
    assert result.error_in_exec is None, result.error_in_exec
    raw = (tmp_path / "chat.ipynb").read_text(encoding="utf-8")
    assert emulator.token not in raw
    notebook = nbformat.reads(raw, as_version=4)
    nbformat.validate(notebook)
    kinds = [(c.cell_type, c.source.splitlines()[0]) for c in notebook.cells]
    assert [k for k, _ in kinds] == [
        "markdown",  # title
        "markdown",  # 1. You
        "code",  # the image sent with it, as an output (GitHub shows no markdown attachments)
        "markdown",  # 1. Kimi
        "markdown",  # 2. You
        "code",  # the code the agent ran, its printout and picture as outputs
        "markdown",  # 2. Kimi
        "markdown",  # 3. You
        "markdown",  # 3. Kimi, partial
    ]
    image_cell = notebook.cells[2]
    assert image_cell.source.startswith("# ") and "attachment:" not in json.dumps(raw)
    [shown] = image_cell.outputs
    assert shown.output_type == "display_data" and base64.b64decode(shown.data["image/png"]) == PNG
    code = notebook.cells[5]
    assert code.source == SHOWS + CODE
    assert "42" in "".join(o.text for o in code.outputs if o.output_type == "stream")
    [drawn] = [o for o in code.outputs if o.output_type == "display_data"]
    assert base64.b64decode(drawn.data["image/png"]) == PNG
    assert "Partial answer" in notebook.cells[-1].source


def test_the_python_api_exports_the_same(chatted: Any, emulator: Emulator) -> None:
    text = chatted.to_markdown()  # the environment's token is redacted by default
    assert emulator.token not in text and DATA_URL in text  # no folder: the image is embedded
    notebook = chatted.to_notebook()
    nbformat.validate(nbformat.from_dict(notebook))
    assert emulator.token not in json.dumps(notebook)


def test_the_python_api_redacts_the_token_of_the_conversations_session(
    emulator_connection: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    # A token configured in the Session only (not in the environment), and shaped like no
    # well-known key format: only the session knows to take it out.
    token = "session-only-token-7f3a"
    for name in (*ENV_API_TOKEN, ENV_OPENAI_API_KEY, ENV_GATEWAY_TOKEN):
        monkeypatch.delenv(name, raising=False)
    with Emulator(token=token) as own:
        own.script(
            {"content": f"Your token is {token}.", "reasoning": f"They pasted {token}."},
            {"content": f"Again: {token}"},
        )
        connection = {**emulator_connection, "base_url": own.base_url, "api_token": token}
        session = kimi_magic.Session(connection=connection)
        session.ask("Repeat my token")
        chat = kimi_magic.Conversation(name="handed-in")
        kimi_magic.ask("And once more", chat=chat, **connection)  # its session has closed
        session.close()
    for conversation in (session.conversation(), chat):
        text = conversation.to_markdown(images=tmp_path / "img")
        notebook = conversation.to_notebook()
        assert "[redacted: the API token]" in text
        (tmp_path / "chat.md").write_text(text, encoding="utf-8")
        (tmp_path / "chat.ipynb").write_text(json.dumps(notebook), encoding="utf-8")
        written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
        assert written and not [b for b in written if token.encode() in b]
        assert token not in text and token not in json.dumps(notebook)


def test_export_keeps_the_curated_marks(
    controls_shell: Any, emulator: Emulator, chatted: Any, tmp_path: Path
) -> None:
    for line in ("pin 1", "forget 2", "edit 1 One pixel, grey."):
        controls_shell.run_cell(f"%kimi {line}")
    controls_shell.run_cell("%kimi export chat.md")
    text = (tmp_path / "chat.md").read_text(encoding="utf-8")
    assert "## 1. You *(pinned, answer edited)*" in text and "One pixel, grey." in text
    assert "## 2. You *(forgotten: not sent any more)*" in text
