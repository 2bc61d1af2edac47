"""Bytes a kernel publishes for an answer with tool calls, against a plain answer of the same
text, in a real kernel (the live view's bounded-cost design must hold with tools).

    python benchmarks/bench_tools.py            # about 20 seconds

The same 6,000-character final answer is streamed twice: once plain, once after five tool
calls (two rounds: three calls in parallel, then two). Each tool call costs its block (sent
when it starts, replaced once when it ends) and each round its own short answer.
"""

from __future__ import annotations

import sys
from pathlib import Path

from kimi_magic.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from kernel_session import KernelSession

SETUP = """
%load_ext kimi_magic
import kimi_magic

@kimi_magic.tool
def lookup(key: str) -> str:
    '''A value from a small table.'''
    return f"value of {key}: " + "x" * 200
"""


def final_text(size: int = 6_000) -> str:
    text = ""
    i = 0
    while len(text) < size:
        text += f"Paragraph {i}. " + "The quick brown fox jumps over the lazy dog. " * 8 + "\n\n"
        i += 1
    return text[:size]


def tool_rounds() -> list[dict[str, object]]:
    first = [{"name": "lookup", "arguments": {"key": f"k{i}"}} for i in range(3)]
    second = [{"name": "lookup", "arguments": {"key": f"k{i}"}} for i in range(3, 5)]
    return [
        {"content": "Looking up three keys.", "tool_calls": first},
        {"content": "Two more.", "tool_calls": second},
    ]


def measure(chunk_chars: int = 8) -> dict[str, float]:
    """Bytes published by the plain answer and by the tool answer, and their ratio."""
    text = final_text()
    with Emulator(rate=400) as emu:
        env = {
            "KIMI_MAGIC_BASE_URL": emu.base_url,
            "CLOUDFLARE_ACCOUNT_ID": emu.account_id,
            "CLOUDFLARE_API_TOKEN": emu.token,
        }
        with KernelSession(env) as kernel:
            assert not kernel.run(SETUP).errors
            emu.script({"content": text, "chunk_chars": chunk_chars})
            plain = kernel.run("%%kimi --new\nplain")
            emu.script(*tool_rounds(), {"content": text, "chunk_chars": chunk_chars})
            tools = kernel.run("%%kimi --new --tools lookup\nwith tools")
            assert not plain.errors and not tools.errors
    return {
        "answer_chars": len(text),
        "plain_bytes": plain.published_bytes,
        "tools_bytes": tools.published_bytes,
        "ratio": tools.published_bytes / plain.published_bytes,
    }


if __name__ == "__main__":
    figures = measure()
    print(
        f"answer of {figures['answer_chars']:,} characters: plain {figures['plain_bytes']:,} "
        f"bytes published; with five tool calls {figures['tools_bytes']:,} bytes "
        f"({figures['ratio']:.2f}x the plain answer)"
    )
