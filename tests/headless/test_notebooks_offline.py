"""Every shipped notebook runs top to bottom under `jupyter nbconvert --execute` and papermill
with the one-step offline setup (KIMI_MAGIC_EMULATOR=1, nothing scripted, no credentials), and
relies on no tag that only one of them honours (issue 16)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from headless_env import offline_environment
from user_notebook import WIDGET_VIEW, run

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
CLIENTS = ("nbconvert", "papermill")
LOCAL = frozenset({"reset", "help", "usage", "history", "panel", "config", "save", "load", "mcp"})


@pytest.fixture
def offline(tmp_path: Path) -> Iterator[Path]:
    """A copy of notebooks/ and the environment of a user who only set KIMI_MAGIC_EMULATOR=1."""
    folder = tmp_path / "notebooks"
    shutil.copytree(ROOT / "notebooks", folder)
    with offline_environment(tmp_path):
        yield folder


def asks(source: str) -> bool:
    first = source.lstrip().split("\n", 1)[0]
    if first.startswith("%%kimi"):
        return "--dry-run" not in first
    words = first.split()
    return len(words) > 1 and words[0] == "%kimi" and words[1] not in LOCAL


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_notebook_relies_on_a_tag_one_runner_ignores(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    tags = {tag for cell in notebook.cells for tag in cell.metadata.get("tags", [])}
    assert not tags & {"raises-exception", "skip-execution"}, f"{path.name} uses {tags}"


@pytest.mark.parametrize("client", CLIENTS)
@pytest.mark.parametrize("name", [p.name for p in NOTEBOOKS], ids=[p.stem for p in NOTEBOOKS])
def test_every_notebook_runs_offline_with_no_setup(name: str, client: str, offline: Path) -> None:
    done = run(client, offline / name, offline)

    assert done.returncode == 0, done.log[-3000:]
    notebook = nbformat.read(done.saved, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    for cell in code:
        assert cell.get("execution_count") is not None, f"never ran:\n{cell.source}"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, f"{name}: the cell\n{cell.source}\nfailed: {errors[0]}"
        if asks(cell.source):
            answers = [
                o.data["text/markdown"]
                for o in cell.outputs
                if "text/markdown" in o.get("data", {}) and "kimi_magic" in o.get("metadata", {})
            ]
            assert answers and answers[-1].strip(), f"no saved answer under:\n{cell.source}"
            if "--tools" in cell.source or "--agent" in cell.source:  # the tools were used
                assert "Simulated answer from the tools" in answers[-1], answers[-1]
            # A finished answer is markdown, not a live view (the settings panel is a widget).
            assert WIDGET_VIEW not in json.dumps(cell.outputs), cell.source
