"""Images: displayed ones remembered by cell, image objects of every kind, data URLs to the
emulator, and downscaling that holds both caps (with Pillow, and what happens without it)."""

from __future__ import annotations

import base64
import io
import sys
from typing import Any

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator
from kimi_magic.prompt.images import (
    Image,
    ImageError,
    fit,
    image_from_object,
    image_size,
    sniff_mime,
)

np = pytest.importorskip("numpy")
PIL = pytest.importorskip("PIL.Image")


def sent_images(emulator: Emulator, index: int = -1) -> list[bytes]:
    """The decoded images of the last user message of a recorded request."""
    content = emulator.requests[index]["json"]["messages"][-1]["content"]
    assert isinstance(content, list), "the message has no images"
    urls = [p["image_url"]["url"] for p in content if p["type"] == "image_url"]
    found = []
    for url in urls:
        head, payload = url.split(",", 1)
        assert head in ("data:image/png;base64", "data:image/jpeg;base64")
        found.append(base64.b64decode(payload))
    return found


def noise(width: int, height: int) -> Any:
    """A PIL image that does not compress: the worst case for the byte cap."""
    rng = np.random.default_rng(0)
    return PIL.fromarray(rng.integers(0, 255, (height, width, 3), dtype=np.uint8))


def test_displayed_images_are_remembered_by_cell_and_sent(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    kimi_shell.run_cell(
        "from PIL import Image as PILImage\nfrom IPython.display import display\n"
        "red = PILImage.new('RGB', (40, 30), 'red')",
        store_history=True,
    )
    red_cell = kimi_shell.execution_count  # the count the next cell runs under
    kimi_shell.run_cell("display(red)", store_history=True)
    kimi_shell.run_cell("PILImage.new('RGB', (20, 10), 'blue')", store_history=True)  # Out[n]
    kimi_shell.run_cell("x = 1", store_history=True)  # a cell without images

    result = kimi_shell.run_cell("%kimi --image last What colour is this?", store_history=True)
    assert result.error_in_exec is None
    (last,) = sent_images(emulator)
    assert image_size(last, "image/png") == (20, 10)

    kimi_shell.run_cell(f"%kimi --image {red_cell} --image last Compare.", store_history=True)
    first, second = sent_images(emulator)
    assert image_size(first, "image/png") == (40, 30)
    assert image_size(second, "image/png") == (20, 10)
    text = emulator.requests[-1]["json"]["messages"][-1]["content"][0]["text"]
    assert f"1. image displayed by cell {red_cell} (40x30 px)" in text
    for request in emulator.requests:
        validate_request(request["json"])


def test_a_cell_without_images_is_a_clear_error(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("x = 1", store_history=True)
    result = kimi_shell.run_cell("%kimi --image 1 what is here?")
    assert isinstance(result.error_in_exec, UsageError)
    assert "cell 1 displayed no image" in str(result.error_in_exec)
    assert emulator.requests == []


def test_image_objects_by_name_and_in_braces(
    kimi_shell: Any, emulator: Emulator, tmp_path: Any, validate_request: Any
) -> None:
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    png_path = tmp_path / "dot.png"
    PIL.new("RGB", (7, 5), "green").save(png_path)
    kimi_shell.run_cell(
        "import numpy as np, base64\nfrom matplotlib.figure import Figure\n"
        "fig = Figure(figsize=(4, 3), dpi=50)\nfig.add_subplot().plot([1, 3, 2])\n"
        "pixels = np.zeros((12, 16, 4), dtype=np.uint8)\n"
        f"import pathlib\nraw = pathlib.Path({str(png_path)!r}).read_bytes()\n"
        "url = 'data:image/png;base64,' + base64.b64encode(raw).decode()\n"
    )
    kimi_shell.run_cell(
        f"%kimi --image pixels --image raw --image {png_path} --image url "
        "What do {fig} and these show?"
    )
    images = sent_images(emulator)
    sizes = [image_size(data, sniff_mime(data) or "") for data in images]
    # {fig} in the text is attached where it is met, before the --image ones.
    assert sizes == [(200, 150), (16, 12), (7, 5), (7, 5), (7, 5)]
    text = emulator.requests[-1]["json"]["messages"][-1]["content"][0]["text"]
    assert text.startswith("What do [image 1: fig] and these show?")
    validate_request(emulator.requests[-1]["json"])


def test_something_that_is_not_an_image_is_refused(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("numbers = [1, 2, 3]")
    result = kimi_shell.run_cell("%kimi --image numbers describe")
    assert isinstance(result.error_in_exec, UsageError)
    assert "a list is not an image" in str(result.error_in_exec)


@pytest.mark.parametrize(
    ("max_side", "max_bytes"), [(1568, 1_500_000), (800, 200_000), (512, 60_000)]
)
def test_downscaling_holds_both_caps(max_side: int, max_bytes: int) -> None:
    buffer = io.BytesIO()
    noise(3000, 2000).save(buffer, format="PNG")
    big = image_from_object(buffer.getvalue(), "noise")
    assert (big.width, big.height) == (3000, 2000) and len(big.data) > 10_000_000
    small = fit(big, max_side, max_bytes)
    assert max(small.width, small.height) <= max_side
    assert len(small.data) <= max_bytes
    assert image_size(small.data, small.mime) == (small.width, small.height)
    assert small.width / small.height == pytest.approx(1.5, rel=0.02)


def test_an_image_within_the_caps_is_sent_as_it_is() -> None:
    buffer = io.BytesIO()
    PIL.new("RGB", (100, 80), "white").save(buffer, format="PNG")
    image = image_from_object(buffer.getvalue(), "small")
    assert fit(image) is image


def test_large_figures_and_arrays_fit_the_side_cap(kimi_shell: Any, emulator: Emulator) -> None:
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    figure = Figure(figsize=(20, 20), dpi=100)  # 2000 x 2000 px
    figure.add_subplot().imshow(np.random.default_rng(1).random((200, 200)))
    image = fit(image_from_object(figure, "fig", 1568), 1568, 1_500_000)
    assert (image.width, image.height) == (1568, 1568)
    array = np.zeros((3000, 1000, 3), dtype=np.float32)
    image = fit(image_from_object(array, "array", 1000), 1000, 1_500_000)
    assert max(image.width, image.height) <= 1000


def test_without_pillow_oversized_images_get_a_clear_message(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    buffer = io.BytesIO()
    noise(2000, 1000).save(buffer, format="PNG")
    data = buffer.getvalue()
    monkeypatch.setitem(sys.modules, "PIL", None)  # as if Pillow were not installed
    monkeypatch.setitem(sys.modules, "PIL.Image", None)
    big = image_from_object(data, "noise")
    with pytest.raises(ImageError) as caught:
        fit(big, 1568, 1_500_000)
    message = str(caught.value)
    assert "2000x1000 px" in message and "pip install 'kimi_magic[images]'" in message
    # Arrays are still shrunk (by striding) and encoded without Pillow.
    array = np.full((3000, 2000, 3), 200, dtype=np.uint8)
    image = fit(image_from_object(array, "array", 1000), 1000, 1_500_000)
    assert max(image.width, image.height) <= 1000 and image.mime == "image/png"
    gif = b"GIF89a" + b"\x00" * 20
    with pytest.raises(ImageError, match="converting it needs Pillow"):
        image_from_object(gif, "anim")


def test_data_url_of_the_image_type() -> None:
    image = Image("image/jpeg", b"\xff\xd8abc", 1, 1)
    assert image.data_url == "data:image/jpeg;base64," + base64.b64encode(b"\xff\xd8abc").decode()


def test_an_undefined_image_name_names_the_close_ones(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("import numpy as np\nfigure1 = np.zeros((4, 4, 3), dtype=np.uint8)")
    result = kimi_shell.run_cell("%kimi --image figure look")
    assert isinstance(result.error_in_exec, UsageError)
    assert "--image figure:" in str(result.error_in_exec)
    assert "Did you mean {figure1}?" in str(result.error_in_exec)
