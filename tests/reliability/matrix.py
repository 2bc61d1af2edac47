"""The fault matrix: every case, what goes wrong and what the user sees. docs/reliability.md is
generated from it (`python tests/reliability/matrix.py > docs/reliability.md`), and a test
checks the two agree, so the published page is the list of cases that ran.

Table-driven groups are defined here; one-off cases register themselves with `@case(...)`
on their test function.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Case:
    group: str
    id: str
    fault: str
    sees: str
    params: dict[str, Any] = field(default_factory=dict, compare=False)


GROUP_TITLES = {
    "cut": "Network faults at every point of a stream",
    "stall": "Stalls and trickles",
    "status": "HTTP error statuses, with Cloudflare, OpenAI-shaped and HTML bodies",
    "json200": "HTTP 200 with a JSON error, or the wrong kind of body",
    "events": "Malformed and unknown events",
    "huge": "Huge answers",
    "ratelimit": "Rate limits and retries",
    "fence": "Answers that end inside an open block",
    "input": "Bad inputs (refused before sending, or sent cleaned)",
    "secrets": "Secrets (nothing sent to the model holds one)",
    "property": "Properties (hypothesis)",
    "load": "Load",
}
REGISTRY: list[Case] = []


def case(group: str, id: str, fault: str, sees: str) -> Callable[[Any], Any]:
    """Register a one-off test as a case of the matrix."""

    def register(function: Any) -> Any:
        REGISTRY.append(Case(group, id, fault, sees))
        return function

    return register


# -- network faults at every point of a stream ------------------------------------------------

WORDS = ["Plot ", "the ", "trend ✓"]
FULL = "".join(WORDS)
MODES = {
    "eof": "the server closes the connection (a close-delimited body just ends)",
    "chunked": "a chunked body is cut off without its last chunk",
    "reset": "the connection is reset (TCP RST)",
}
_BEFORE_ANY = "before any of the answer arrived"
POINTS: dict[str, tuple[str, str | None, bool]] = {
    # point: (where, text kept (None: no answer object), whole answer?)
    "before-first-event": ("after the headers, before the first event", "", False),
    "inside-first-event": ("inside the first event", "", False),
    "inside-event": ("inside the second event", "Plot ", False),
    "inside-character": ("inside a multi-byte character (the ✓)", "Plot the ", False),
    "after-last-content": ("after the last content, before the finish reason", FULL, False),
    "before-done": ("after finish reason and usage, before [DONE]", FULL, True),
}


def _cut_sees(mode: str, kept: str | None, whole: bool) -> str:
    if whole:
        return "the whole answer, no error: a finish reason and usage make an answer whole"
    what = (
        "the stream ended before the answer was finished"
        if mode == "eof"
        else ("the connection broke")
    )
    where = f"({_BEFORE_ANY})" if not kept else "in the middle of the answer"
    shown = f"'{kept}' kept, marked truncated" if kept else "nothing lost, answer marked truncated"
    return f"one paragraph: {what} {where}; {shown}; the next call works"


CUT_CASES = [
    Case(
        "cut",
        f"before-headers-{mode}",
        f"The connection ends before any response headers: {MODES[mode]}.",
        "one paragraph: the connection broke before the server replied, run the cell again; "
        "the next call works",
        {"mode": mode, "point": "before-headers"},
    )
    for mode in ("eof", "reset")
] + [
    Case(
        "cut",
        f"{point}-{mode}",
        f"Cut {where}: {MODES[mode]}.",
        _cut_sees(mode, kept, whole),
        {"mode": mode, "point": point, "kept": kept, "whole": whole},
    )
    for point, (where, kept, whole) in POINTS.items()
    for mode in MODES
]

# -- HTTP error statuses ----------------------------------------------------------------------

STATUS_CODES = {  # status -> the Cloudflare code a real reply would carry
    400: 8001,
    401: 10000,
    403: 5035,
    404: 7003,
    408: 3007,
    409: None,
    413: 3006,
    422: 8001,
    429: 3040,
    500: None,
    502: None,
    503: 3040,
    504: 3007,
}
BODIES = {
    "cloudflare": "Cloudflare's envelope {success: false, errors: [{code, message: 'AiError: …'}]}",
    "openai": "an OpenAI-shaped {error: {message, code}}",
    "html": "an HTML error page from a proxy (<!DOCTYPE html>…)",
    "text": "a plain-text body",
}
STATUS_CASES = [
    Case(
        "status",
        f"{status}-{body}",
        f"HTTP {status} with {BODIES[body]}.",
        (
            "one paragraph: what to do for this status"
            + (
                f"/code {STATUS_CODES[status]}"
                if body == "cloudflare" and STATUS_CODES[status]
                else ""
            )
            + ", the label (HTTP status"
            + (", Cloudflare code" if body == "cloudflare" and STATUS_CODES[status] else "")
            + ") and the server's words"
            + (" as one line: the page's title, no markup" if body == "html" else "")
            + ("; 'AiError:' prefixes removed" if body == "cloudflare" else "")
        ),
        {"status": status, "body": body},
    )
    for status in STATUS_CODES
    for body in BODIES
]


def all_cases() -> list[Case]:
    """Every case: the tables above and every registered one-off test."""
    for path in sorted(HERE.glob("test_*.py")):
        if path.stem not in sys.modules:
            importlib.import_module(path.stem)
    return [*CUT_CASES, *STATUS_CASES, *REGISTRY]


def markdown() -> str:
    """docs/reliability.md."""
    cases = all_cases()
    lines = [
        "# Reliability: the fault matrix",
        "",
        "Generated from `tests/reliability/matrix.py` (run "
        "`python tests/reliability/matrix.py > docs/reliability.md`); every row is a test in "
        "`tests/reliability/`, run by `python -m pytest` and so by `.ci/run`. Faults come from "
        "a raw-socket server (`tests/reliability/_faults.py`) and the emulator, on 127.0.0.1.",
        "",
        "Every case also checks: no exception type other than kimi_magic's own reaches the "
        "user, the message is one paragraph (no traceback), the suite's canary API token "
        "appears in no message or exception attribute, and the next call on the same client "
        "works. After the whole test session the canary is searched for in every log record "
        "and every file the tests wrote (tests/conftest.py).",
        "",
        f"{len(cases)} cases.",
        "",
        "| group | cases |",
        "|---|---|",
    ]
    for group, title in GROUP_TITLES.items():
        count = sum(1 for c in cases if c.group == group)
        lines.append(f"| {title} | {count} |")
    for group, title in GROUP_TITLES.items():
        lines += ["", f"## {title}", "", "| case | fault | what the user sees |", "|---|---|---|"]
        for c in (c for c in cases if c.group == group):
            lines.append(f"| `{c.id}` | {_cell(c.fault)} | {_cell(c.sees)} |")
    return "\n".join(lines) + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    sys.path.insert(0, str(HERE.parent))
    # As the test modules do: import `matrix` by name, so their @case registrations land in
    # the REGISTRY that is printed (this file runs as __main__, a different module).
    sys.stdout.write(importlib.import_module("matrix").markdown())
