"""Images for the model: the ones the notebook displayed, and image objects turned into PNG/JPEG.

Displayed images are remembered (raw, undecoded: remembering costs nothing) with the execution
count of the cell that displayed them. Before sending, an image is fitted under the caps on its
longest side and its encoded size, with Pillow when it is installed; figures and numpy arrays
are drawn small enough without it. matplotlib, numpy and PIL are imported only when met.
"""

from __future__ import annotations

import base64
import binascii
import io
import struct
import zlib
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.constants import IMAGE_MAX_BYTES, IMAGE_MAX_SIDE_PX, IMAGES_REMEMBERED
from ..core.errors import ImageError
from .image_checks import damage

MIME_PNG = "image/png"
MIME_JPEG = "image/jpeg"
IMAGE_MIMES = (MIME_PNG, MIME_JPEG)
PILLOW_HINT = "Install Pillow for it: pip install 'kimi_magic[images]' (or pip install pillow)."
# Output metadata key of our own displays (dry-run thumbnails), which are not remembered.
OWN_OUTPUT_KEY = "kimi_magic"


@dataclass(frozen=True)
class Image:
    """Encoded image bytes ready to send, with their pixel size and where they came from."""

    mime: str
    data: bytes
    width: int
    height: int
    label: str = "image"

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def size_text(self) -> str:
        return f"{self.width}x{self.height} px, {len(self.data):,} bytes {self.mime[6:].upper()}"


@dataclass
class ShownImage:
    """One displayed image as the display system had it: bytes or base64 text, not yet decoded."""

    execution_count: int | None
    mime: str
    raw: bytes | str

    def image(self) -> Image:
        data = self.raw if isinstance(self.raw, bytes) else _b64decode(self.raw)
        width, height = image_size(data, self.mime)
        cell = f"cell {self.execution_count}" if self.execution_count is not None else "a cell"
        return Image(self.mime, data, width, height, f"image displayed by {cell}")


class ImageMemory:
    """The last IMAGES_REMEMBERED images the kernel displayed, oldest dropped first."""

    def __init__(self, size: int = IMAGES_REMEMBERED) -> None:
        self.shown: deque[ShownImage] = deque(maxlen=size)

    def remember(
        self,
        bundle: Mapping[str, Any],
        execution_count: int | None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep the image of a display bundle (PNG preferred over JPEG), if it has one."""
        if isinstance(metadata, Mapping) and OWN_OUTPUT_KEY in metadata:
            return
        for mime in IMAGE_MIMES:
            raw = bundle.get(mime)
            if isinstance(raw, (bytes, str)) and raw:
                self.shown.append(ShownImage(execution_count, mime, raw))
                return

    def relabel(self, wrong: int, right: int) -> None:
        """Give the images filed under cell `wrong` their true cell number."""
        for shown in self.shown:
            if shown.execution_count == wrong:
                shown.execution_count = right

    def last(self) -> Image:
        if not self.shown:
            raise ImageError(
                "--image last: no image has been displayed since kimi_magic was "
                "loaded. Display a figure or image first, or name one: --image fig."
            )
        return self.shown[-1].image()

    def of_cell(self, execution_count: int) -> list[Image]:
        found = [s.image() for s in self.shown if s.execution_count == execution_count]
        if not found:
            cells = sorted({s.execution_count for s in self.shown if s.execution_count})
            known = (
                f"Cells with remembered images: {', '.join(map(str, cells))}."
                if cells
                else "No image has been displayed since kimi_magic was loaded."
            )
            raise ImageError(
                f"--image {execution_count}: cell {execution_count} displayed no "
                f"image that is remembered. {known}"
            )
        return found


def _b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ImageError(
            f"A displayed image's base64 data could not be decoded ({error})."
        ) from None


# -- sizes and types without Pillow ---------------------------------------------------------


def sniff_mime(data: bytes) -> str | None:
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return MIME_PNG
    if data.startswith(b"\xff\xd8"):
        return MIME_JPEG
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:2] == b"BM":
        return "image/bmp"
    return None


def image_size(data: bytes, mime: str) -> tuple[int, int]:
    """(width, height) read from the PNG or JPEG header; (0, 0) if it cannot be read."""
    if mime == MIME_PNG and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return int(width), int(height)
    if mime == MIME_JPEG:
        position = 2
        while position + 9 < len(data):
            if data[position] != 0xFF:
                position += 1
                continue
            marker = data[position + 1]
            if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
                height, width = struct.unpack(">HH", data[position + 5 : position + 9])
                return int(width), int(height)
            length = struct.unpack(">H", data[position + 2 : position + 4])[0]
            position += 2 + length
    return 0, 0


def encode_png(pixels: Any) -> bytes:
    """A PNG of an HxW, HxWx3 or HxWx4 uint8 numpy array, without Pillow."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color_type = {1: 0, 3: 2, 4: 6}[channels]
    import numpy as np

    rows = np.ascontiguousarray(pixels).reshape(height, width * channels)
    raw = np.hstack([np.zeros((height, 1), dtype=np.uint8), rows]).tobytes()  # filter 0 a row

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body))
            + kind
            + body
            + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


# -- objects to images ---------------------------------------------------------------------


def is_image_object(value: Any) -> bool:
    """True for values a `{name}` reference attaches as an image rather than as text."""
    module = type(value).__module__.split(".")[0]
    name = type(value).__name__
    if module == "matplotlib":
        return name == "Figure" or (hasattr(value, "get_figure") and name.endswith("Axes"))
    if module == "PIL":
        return hasattr(value, "save") and hasattr(value, "size")
    return module == "IPython" and name == "Image" and bool(getattr(value, "data", None))


def image_from_object(value: Any, label: str, max_side: int = IMAGE_MAX_SIDE_PX) -> Image:
    """An Image from a Figure, Axes, PIL image, RGB(A) array, bytes, data URL or file path."""
    module = type(value).__module__.split(".")[0]
    if module == "matplotlib":
        figure = value if type(value).__name__ == "Figure" else value.get_figure()
        return _from_figure(figure, label, max_side)
    if module == "PIL" and hasattr(value, "save"):
        buffer = io.BytesIO()
        image = value if value.mode in ("RGB", "RGBA", "L") else value.convert("RGBA")
        image.save(buffer, format="PNG")
        return _from_bytes(buffer.getvalue(), label)
    if module == "numpy" and type(value).__name__ == "ndarray":
        return _from_array(value, label, max_side)
    if module == "IPython" and type(value).__name__ == "Image":
        return _from_bytes(bytes(value.data), label)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return _from_bytes(bytes(value), label)
    if isinstance(value, str) and value.startswith("data:"):
        return _from_data_url(value, label)
    if isinstance(value, (str, Path)):
        path = Path(value).expanduser()
        if path.is_file():
            return _from_bytes(path.read_bytes(), f"{label} ({path.name})")
        raise ImageError(f"--image {label}: there is no image file at '{path}'.")
    raise ImageError(
        f"--image {label}: a {type(value).__name__} is not an image. Use a matplotlib Figure, a "
        "PIL image, an RGB(A) numpy array, image bytes, a path to an image file, a data URL, "
        "'last', or the number of a cell that displayed an image."
    )


def _from_bytes(data: bytes, label: str) -> Image:
    mime = sniff_mime(data)
    if mime is None:
        raise ImageError(f"{label}: the bytes are not a PNG, JPEG, GIF, WebP or BMP image.")
    problem = damage(data, mime)
    if problem:
        raise ImageError(
            f"{label}: the {mime[6:].upper()} data is {problem}, so it cannot be sent. Save or "
            "export the image again (a download or copy may have been cut short)."
        )
    if mime not in IMAGE_MIMES:
        data, mime = _convert_to_png(data, mime, label)
    width, height = image_size(data, mime)
    return Image(mime, data, width, height, label)


def _from_data_url(url: str, label: str) -> Image:
    head, _, payload = url.partition(",")
    if ";base64" not in head:
        raise ImageError(f"{label}: only base64 data URLs are supported.")
    return _from_bytes(_b64decode(payload), label)


def _convert_to_png(data: bytes, mime: str, label: str) -> tuple[bytes, str]:
    pil = _pillow()
    if pil is None:
        raise ImageError(
            f"{label} is {mime[6:].upper()}; Workers AI is sent PNG or JPEG, and "
            f"converting it needs Pillow. {PILLOW_HINT}"
        )
    buffer = io.BytesIO()
    try:
        pil.open(io.BytesIO(data)).convert("RGBA").save(buffer, format="PNG")
    except (OSError, SyntaxError, ValueError) as error:  # Pillow's words for a broken file
        kind = mime[6:].upper()
        raise ImageError(f"{label}: the {kind} data cannot be read ({error}).") from None
    return buffer.getvalue(), MIME_PNG


def _from_figure(figure: Any, label: str, max_side: int) -> Image:
    # Draw at a dpi that already fits the cap, so no resampling (and no Pillow) is needed.
    width_in, height_in = figure.get_size_inches()
    dpi = min(float(figure.dpi), max_side / max(width_in, height_in, 1e-6))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi)
    return _from_bytes(buffer.getvalue(), label)


def _from_array(array: Any, label: str, max_side: int) -> Image:
    import numpy as np

    if not (array.ndim == 2 or (array.ndim == 3 and array.shape[2] in (1, 3, 4))):
        raise ImageError(
            f"--image {label}: an array of shape {array.shape} is not an image; "
            "use HxW (grey), HxWx3 (RGB) or HxWx4 (RGBA)."
        )
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.dtype != np.uint8:
        scaled = array.astype(np.float64)
        if np.nanmax(scaled) <= 1.0:  # matplotlib's convention: floats in 0..1
            scaled = scaled * 255.0
        array = np.clip(np.nan_to_num(scaled), 0, 255).astype(np.uint8)
    step = -(-max(array.shape[:2]) // max_side)
    pil = _pillow()
    if pil is not None:
        image = pil.fromarray(array)
        if step > 1:
            image.thumbnail((max_side, max_side), pil.Resampling.LANCZOS)
        buffer = io.BytesIO()
        image.save(buffer, format="PNG")
        return _from_bytes(buffer.getvalue(), label)
    if step > 1:  # every step-th pixel: coarse, but within the cap without Pillow
        array = array[::step, ::step]
    return _from_bytes(encode_png(array), label)


def pending_inline_figure() -> Any:
    """The newest figure this cell drew that the inline backend has not displayed yet.

    The inline backend shows (and closes) a cell's figures only after the cell ends, so with
    `plt.plot(...)` and `%kimi --image last` in one cell, "last" means that open figure.
    """
    import sys

    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is None or "inline" not in str(pyplot.get_backend()).lower():
        return None
    numbers = pyplot.get_fignums()
    return pyplot.figure(numbers[-1]) if numbers else None


def _pillow() -> Any:
    try:
        from PIL import Image as PILImage
    except ImportError:
        return None
    return PILImage


# -- fitting under the caps ----------------------------------------------------------------


def fit(image: Image, max_side: int = IMAGE_MAX_SIDE_PX, max_bytes: int = IMAGE_MAX_BYTES) -> Image:
    """The image, downscaled and re-encoded if needed so both caps hold."""
    if max(image.width, image.height) <= max_side and len(image.data) <= max_bytes:
        return image
    pil = _pillow()
    if pil is None:
        raise ImageError(
            f"{image.label} is {image.size_text}, over the caps ({max_side} px on the longest "
            f"side, {max_bytes:,} bytes), and shrinking it needs Pillow. {PILLOW_HINT} Or raise "
            "the caps: %config KimiMagics.image_max_side / KimiMagics.image_max_bytes."
        )
    try:
        picture = pil.open(io.BytesIO(image.data))
        picture.load()
    except (OSError, SyntaxError, ValueError) as error:  # Pillow's words for a broken file
        raise ImageError(f"{image.label}: the image cannot be read ({error}).") from None
    side = min(max_side, max(picture.size))
    mime, data = image.mime, image.data
    for attempt in range(12):
        candidate = picture.copy()
        candidate.thumbnail((side, side), pil.Resampling.LANCZOS)
        mime, data = _encode(pil, candidate, prefer_png=attempt == 0)
        if len(data) <= max_bytes:
            width, height = candidate.size
            return Image(mime, data, width, height, image.label)
        if attempt > 0:
            side = max(16, int(side * 0.75))
    raise ImageError(
        f"{image.label} could not be made smaller than {max_bytes:,} bytes; "
        "raise KimiMagics.image_max_bytes."
    )


def _encode(pil: Any, picture: Any, prefer_png: bool) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    if prefer_png:
        picture.save(buffer, format="PNG", optimize=False)
        return MIME_PNG, buffer.getvalue()
    if picture.mode in ("RGBA", "LA", "P"):
        background = pil.new("RGB", picture.size, (255, 255, 255))
        rgba = picture.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        picture = background
    elif picture.mode != "RGB":
        picture = picture.convert("RGB")
    picture.save(buffer, format="JPEG", quality=85)
    return MIME_JPEG, buffer.getvalue()
