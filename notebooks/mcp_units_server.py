"""A small MCP server for notebooks/05-agent-and-tools.ipynb, written with the official SDK.

`%kimi mcp add units -- python mcp_units_server.py` starts it on first use. Two tools: a fuel
economy conversion, and a colour swatch returned as an image (MCP image results reach the
model as images).
"""

from __future__ import annotations

import struct
import zlib

try:  # mcp 2.x
    from mcp.server.mcpserver import Image
    from mcp.server.mcpserver import MCPServer as Server
except ImportError:  # mcp 1.x
    from mcp.server.fastmcp import FastMCP as Server  # type: ignore[no-redef]
    from mcp.server.fastmcp import Image

server = Server("units")
COLOURS = {"red": (220, 50, 47), "green": (133, 153, 0), "blue": (38, 139, 210)}


@server.tool()
def mpg_to_l_per_100km(mpg: float) -> str:
    """Convert US miles per gallon to litres per 100 km."""
    return f"{235.215 / mpg:.2f} L/100 km"


@server.tool()
def swatch(colour: str) -> Image:
    """A 32x32 swatch of a colour (red, green or blue), as a PNG image."""
    return Image(data=_png(COLOURS[colour.lower()]), format="png")


def _png(rgb: tuple[int, int, int], side: int = 32) -> bytes:
    """A solid RGB PNG, standard library only."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    row = b"\x00" + bytes(rgb) * side
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * side))
        + chunk(b"IEND", b"")
    )


if __name__ == "__main__":
    server.run()
