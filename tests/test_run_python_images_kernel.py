"""run_python in a real kernel (inline backend): a picture reaches the model however the code
shows it (`plt.show()`, `display(fig)`, a displayed PIL image, an IPython Image, `_repr_png_`),
each exactly once (issue 15)."""

from __future__ import annotations

import json

import pytest
from kernel_session import KernelSession

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

PLOT = "import matplotlib.pyplot as plt\nfig, ax = plt.subplots()\nax.plot([1, 3, 2])\n"
PNG_OF = "import io\nfrom PIL import Image as PILImage\n"
SHOWS = {
    "plt.show()": PLOT + "plt.show()",
    "display(fig)": PLOT + "from IPython.display import display\ndisplay(fig)",
    "a displayed PIL image": PNG_OF + "display(PILImage.new('RGB', (16, 16), 'red'))",
    "IPython.display.Image": PNG_OF
    + "from IPython.display import Image\nbuf = io.BytesIO()\n"
    + "PILImage.new('RGB', (16, 16), 'blue').save(buf, 'PNG')\ndisplay(Image(buf.getvalue()))",
    "_repr_png_": PNG_OF
    + "class Swatch:\n    def _repr_png_(self):\n        buf = io.BytesIO()\n"
    + "        PILImage.new('RGB', (8, 8), 'green').save(buf, 'PNG')\n"
    + "        return buf.getvalue()\ndisplay(Swatch())",
}


@pytest.mark.parametrize("code", SHOWS.values(), ids=SHOWS.keys())
def test_what_the_code_shows_reaches_the_model_once(
    code: str, emulator_kernel: KernelSession, emulator: Emulator
) -> None:
    pytest.importorskip("PIL")
    pytest.importorskip("matplotlib")
    emulator.script(
        {"tool_calls": [{"name": "run_python", "arguments": {"code": code}}]},
        {"content": "I saw {{images}} image(s)."},
    )
    run = emulator_kernel.run("%%kimi --new --tools python --approve auto\nShow me", timeout=120)
    assert not run.errors, run.stream_text("stderr")
    sent = emulator.requests[-1]["json"]["messages"]
    images = [
        part
        for message in sent
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]
    assert len(images) == 1, json.dumps(sent)[:2000]
    assert images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert "1 figure(s) drawn" in sent[-2]["content"]
