"""In a real kernel (nbclient): a matplotlib inline figure reaches the emulator as a data URL,
a 2000x2000 figure is downscaled within the caps, `%kimi explain` sees a real exception and
`-f code` offers the answer's code."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from kimi_magic.emulator import Emulator
from kimi_magic.prompt.images import image_size, sniff_mime

pytestmark = pytest.mark.notebook

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("matplotlib")
pytest.importorskip("PIL")

CELLS = [
    "%load_ext kimi_magic",  # [1]
    "%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])",  # [2]
    "%kimi --image last What does this chart show?",  # [3]
    "fig, ax = plt.subplots(figsize=(20, 20), dpi=100)\nax.plot(range(10))",  # [4]
    "%kimi --image 4 --image 2 Compare the two charts.",  # [5]
    "totals = {'north': 3}\ntotals['south'] / 2",  # [6] raises
    "%kimi explain",  # [7]
    "%kimi -f code Write a function that adds two numbers.",  # [8]
    "plt.plot([5, 1])\n%kimi --image last Is this line falling?",  # [9]
]


def run_notebook(tmp_path: Any) -> Any:
    notebook = nbformat.v4.new_notebook()
    for source in CELLS:
        cell = nbformat.v4.new_code_cell(source)
        if source.startswith("totals"):
            cell.metadata["tags"] = ["raises-exception"]
        notebook.cells.append(cell)
    client = nbclient.NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()
    return notebook


def images_of(request: dict[str, Any]) -> list[bytes]:
    content = request["json"]["messages"][-1]["content"]
    found = []
    for part in content:
        if part["type"] == "image_url":
            head, payload = part["image_url"]["url"].split(",", 1)
            assert head in ("data:image/png;base64", "data:image/jpeg;base64")
            found.append(base64.b64decode(payload))
    return found


def text_of(request: dict[str, Any]) -> str:
    content = request["json"]["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_notebook_context_in_a_real_kernel(
    emulator: Emulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any, validate_request: Any
) -> None:
    for name in ("KIMI_MAGIC_OPENAI_BASE_URL", "CF_ACCOUNT_ID", "CF_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    emulator.script(
        {"content": "A line rising, then falling."},
        {"content": "The second is a straight line."},
        {"content": "`totals` has no key 'south'."},
        {"content": "Here:\n\n```python\ndef add(a, b):\n    return a + b\n```\n"},
        {"content": "Yes, it falls."},
    )
    notebook = run_notebook(tmp_path)
    requests = emulator.requests
    assert len(requests) == 5

    # [3] the inline figure of cell [2], as the kernel displayed it.
    (figure,) = images_of(requests[0])
    assert sniff_mime(figure) == "image/png"
    width, height = image_size(figure, "image/png")
    assert 200 < width < 1000 and 200 < height < 1000
    assert "1. image displayed by cell 2" in text_of(requests[0])

    # [5] the 2000x2000 figure downscaled within the caps, then cell 2's figure again.
    big, again = images_of(requests[1])
    mime = sniff_mime(big) or ""
    assert max(image_size(big, mime)) <= 1568 and len(big) <= 1_500_000
    assert again == figure

    # [7] the real KeyError: cell source, traceback, the failing line and its values.
    explain = text_of(requests[2])
    assert "totals['south'] / 2" in explain and "KeyError: 'south'" in explain
    assert "### totals\ndict with 1 key" in explain
    assert "interactiveshell.py" not in explain  # IPython's own frames are left out

    # [8] the code is offered: a new cell (set_next_input) and a copy button.
    outputs = notebook.cells[7].outputs
    html = "".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "Copy code" in html and "def add(a, b):" in html

    # [9] the figure drawn in the same cell, before the inline backend displays it.
    (pending,) = images_of(requests[4])
    assert pending not in (figure, big)
    assert "1. the figure this cell drew" in text_of(requests[4])
    assert max(image_size(pending, "image/png")) <= 1568

    for request in requests:
        validate_request(request["json"])
