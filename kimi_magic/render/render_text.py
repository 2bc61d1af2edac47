"""Where widgets cannot render (terminal IPython, scripts): text streams to stdout."""

from __future__ import annotations

import sys
from typing import TextIO

from ..core.answer import Answer, footer_line, status_note, tool_calls_plain
from ..core.call import Call
from ..core.types import ReasoningDelta, Retrying, TextDelta

_DIM, _RESET = "\033[2m", "\033[0m"


def stream_to_stdout(events: Call, out: TextIO | None = None, footer: bool = True) -> Answer:
    """Print reasoning (dimmed on a terminal) then the answer as they arrive, and with `footer`
    how it ended; return the answer."""
    out = out or sys.stdout
    colour = out.isatty()
    in_reasoning = False
    try:
        for event in events:
            if isinstance(event, ReasoningDelta) and event.choice == 0:
                if not in_reasoning:
                    out.write((_DIM if colour else "") + "Thinking: ")
                    in_reasoning = True
                out.write(event.text)
            elif isinstance(event, Retrying):
                out.write(f"[{event.describe()}]\n")
            elif isinstance(event, TextDelta) and event.choice == 0:
                if in_reasoning:
                    out.write((_RESET if colour else "") + "\n\n")
                    in_reasoning = False
                out.write(event.text)
            out.flush()
    finally:
        if in_reasoning and colour:
            out.write(_RESET)
        out.write("\n")
        if footer:
            print_footer(events, out=out)
    return events.answer


def print_footer(call: Call, context: str = "", out: TextIO | None = None) -> None:
    """Tool calls asked for, how the answer ended, and the usage line (with the gauge)."""
    out = out or sys.stdout
    answer = call.answer
    calls, note = tool_calls_plain(answer), status_note(answer)
    out.write("".join(p + "\n" for p in (calls, note) if p))
    out.write(f"[{footer_line(answer)}{' · ' + context if context else ''}]\n")
    out.flush()
