"""A user's notebook run by nbclient, `jupyter nbconvert --execute`, papermill and our runner,
each while two busy loops load the CPU: every run finishes, and every saved file holds every
answer (the background one after `%kimi wait` included) as markdown in its own cell, with no
widget state and no widget view (issue 16, design.md section 9)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from user_notebook import CLIENTS, replies, run, write_notebook
from user_notebook import problems as saved_problems

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook


@pytest.mark.parametrize("client", CLIENTS)
def test_run_under_load_finishes_and_saves_every_answer_as_markdown(
    client: str,
    tmp_path: Path,
    headless_emulator: Emulator,
    busy_loops: list[subprocess.Popen[bytes]],
) -> None:
    headless_emulator.reset()
    headless_emulator.script(*replies())
    source = write_notebook(tmp_path / "user.ipynb")

    done = run(client, source, tmp_path)

    assert all(loop.poll() is None for loop in busy_loops), "the load stopped during the run"
    if client == "papermill":
        # papermill runs the tagged error cell on, then reports it as the run's failure.
        assert done.returncode in (0, 1) and "ZeroDivisionError" in done.log, done.log[-3000:]
    else:
        assert done.returncode == 0, done.log[-3000:]
    assert done.saved.exists(), done.log[-3000:]
    assert saved_problems(done.saved) == []
    assert headless_emulator.queued == 0, "a question was never asked"
