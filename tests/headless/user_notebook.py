"""A notebook like a user's, the emulator replies its questions get, the four headless clients
that run it (nbclient, nbconvert, papermill, our runner) and what a saved file must hold.

Shared by tests/headless and benchmarks/bench_headless.py.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nbformat

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
METADATA_KEY = "kimi_magic"
CLIENTS = ("nbclient", "nbconvert", "papermill", "runner")
CELL_TIMEOUT_S = 300  # generous: the machine is loaded on purpose
RUN_TIMEOUT_S = 900

# (cell source, the marker its saved answer must hold, or None for a cell that asks nothing)
CELLS: list[tuple[str, str | None]] = [
    ("%load_ext kimi_magic", None),
    ("%%kimi\nWhat does a list comprehension do?", "ANSWER-ONE"),
    ("1 / 0", None),  # tagged raises-exception
    ("%kimi explain", "ANSWER-EXPLAIN"),
    ("%%kimi --bg -o a\nName three rivers.", "ANSWER-BG"),
    ("meanwhile = 1 + 1", None),
    ("%kimi wait", None),
    ("print('a holds', a)", None),
    ("%%kimi -o x\nSay hi.", "ANSWER-X"),
    ("print('x holds', x)", None),
    ("%%kimi --tools notebook\nWhich variables are defined?", "ANSWER-TOOLS"),
]
ERROR_CELL = 2


def replies() -> list[dict[str, Any]]:
    """What the emulator answers, in the order the notebook asks."""
    rivers = "Nile, Amazon, Yangtze. " * 8  # takes a second: it ends after its cell did
    return [
        {"content": "It builds a list from an iterable in one expression. ANSWER-ONE"},
        {"content": "You divided by zero: check the divisor first. ANSWER-EXPLAIN"},
        {"content": rivers + "ANSWER-BG", "chunk_chars": 4, "rate": 50},
        {"content": "Hi there. ANSWER-X"},
        {"tool_calls": [{"name": "list_variables", "arguments": {}}]},
        {"content": "You have `a`, `x` and `meanwhile`. ANSWER-TOOLS"},
    ]


def write_notebook(path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [nbformat.v4.new_code_cell(source) for source, _ in CELLS]
    notebook.cells[ERROR_CELL].metadata["tags"] = ["raises-exception"]
    notebook.metadata["kernelspec"] = {
        "name": "python3",
        "language": "python",
        "display_name": "Python 3 (ipykernel)",
    }
    nbformat.write(notebook, path)
    return path


@dataclass
class Run:
    """One client's run: the saved file, how long it took, and what the client said."""

    client: str
    saved: Path
    seconds: float
    returncode: int
    log: str


def run(client: str, source: Path, folder: Path) -> Run:
    """Run `source` with `client`, saving into `folder`; the kernel inherits the environment."""
    saved = folder / f"{client}-{source.name}"
    started = time.perf_counter()
    returncode, log = 0, ""
    if client == "nbclient":
        from nbclient import NotebookClient

        notebook = nbformat.read(source, as_version=4)
        NotebookClient(
            notebook,
            timeout=CELL_TIMEOUT_S,
            kernel_name="python3",
            resources={"metadata": {"path": str(folder)}},
        ).execute()
        nbformat.write(notebook, saved)
    else:
        command = {
            "nbconvert": [
                *_jupyter(),
                "nbconvert",
                "--execute",
                "--to",
                "notebook",
                f"--ExecutePreprocessor.timeout={CELL_TIMEOUT_S}",
                "--output",
                str(saved),
                str(source),
            ],
            "papermill": [
                sys.executable,
                "-m",
                "papermill",
                str(source),
                str(saved),
                "--kernel",
                "python3",
                "--cwd",
                str(folder),
                "--execution-timeout",
                str(CELL_TIMEOUT_S),
                "--no-progress-bar",
            ],
            "runner": [
                sys.executable,
                "-m",
                "kimi_magic.quickstart",
                str(source),
                "--output",
                str(saved),
                "--timeout",
                str(CELL_TIMEOUT_S),
            ],
        }[client]
        done = subprocess.run(
            command, cwd=folder, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
        returncode, log = done.returncode, done.stdout + done.stderr
    return Run(client, saved, time.perf_counter() - started, returncode, log)


def _jupyter() -> list[str]:
    script = Path(sys.executable).with_name("jupyter")
    return [str(script)] if script.exists() else [sys.executable, "-m", "jupyter"]


def problems(saved: Path) -> list[str]:
    """What a reader of the saved file would miss: every answer as markdown in its own cell,
    every cell run, no widget state or widget view. Empty when the file is clean."""
    notebook = nbformat.read(saved, as_version=4)
    found: list[str] = []
    if "widgets" in notebook.metadata:
        found.append(f"widget state saved: {len(json.dumps(notebook.metadata.widgets))} bytes")
    text = json.dumps(notebook)
    for mime in (WIDGET_VIEW, WIDGET_STATE):
        if mime in text:
            found.append(f"{mime} in the file")
    # papermill adds markdown cells of its own (a banner, an anchor) when a cell failed.
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for index, (cell, (source, marker)) in enumerate(zip(code, CELLS, strict=True)):
        if cell.get("execution_count") is None:
            found.append(f"cell {index} never ran: {source!r}")
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors and index != ERROR_CELL:
            found.append(
                f"cell {index} failed: {errors[0].get('ename')}: {errors[0].get('evalue')}"
            )
        if marker is None:
            continue
        answers = [
            o.data["text/markdown"]
            for o in cell.outputs
            if o.output_type == "display_data"
            and "text/markdown" in o.get("data", {})
            and "text/plain" in o.data
            and METADATA_KEY in o.get("metadata", {})
        ]
        if not any(marker in answer for answer in answers):
            found.append(f"cell {index} ({source.splitlines()[0]!r}) has no saved answer")
    printed = {i: json.dumps(c.outputs) for i, c in enumerate(code)}
    if "ANSWER-BG" not in printed[7]:
        found.append("the background answer never reached `a`")
    if "ANSWER-X" not in printed[9]:
        found.append("the answer never reached `x`")
    return found
