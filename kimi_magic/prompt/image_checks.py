"""Whether an image's bytes are whole: a file cut short still sniffs as PNG or JPEG, and the
server would reject it (or Pillow raise) later."""

from __future__ import annotations

import struct
import zlib

MIME_PNG = "image/png"
MIME_JPEG = "image/jpeg"


def damage(data: bytes, mime: str) -> str:
    """What is wrong with an image's bytes ('' when nothing we can see): a cut-short file still
    sniffs as PNG or JPEG, and the server would reject it (or Pillow raise) later."""
    if mime == MIME_PNG:
        return _png_damage(data)
    if mime == MIME_JPEG and not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return "truncated (no end-of-image marker)"
    return ""


def _png_damage(data: bytes) -> str:
    position = 8
    while position + 12 <= len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind = data[position + 4 : position + 8]
        end = position + 12 + length
        if end > len(data):
            return "truncated (a chunk runs past the end of the file)"
        if zlib.crc32(data[position + 4 : end - 4]) != struct.unpack(">I", data[end - 4 : end])[0]:
            return f"corrupt (the {kind.decode('latin-1')!r} chunk fails its checksum)"
        if kind == b"IEND":
            return ""
        position = end
    return "truncated (it ends before the image does)"
