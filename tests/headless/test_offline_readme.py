"""The README's *Offline in one step* block, followed line by line as a new user would from a
fresh clone: export KIMI_MAGIC_EMULATOR=1, then nbconvert and papermill on the quickstart, with
no credentials and no server started; each saved file holds simulated answers as markdown."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from headless_env import offline_environment
from user_notebook import RUN_TIMEOUT_S, WIDGET_VIEW, _jupyter

pytestmark = pytest.mark.notebook

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(r"^### Offline in one step\n.*?^```bash\n(.*?)^```", re.S | re.M)
INTERACTIVE = ("jupyter lab",)  # opens a browser: not a step a test can take


def readme_steps() -> list[str]:
    found = SECTION.search((ROOT / "README.md").read_text(encoding="utf-8"))
    assert found, "the README has no *Offline in one step* bash block"
    lines = [line.split("#", 1)[0].strip() for line in found.group(1).splitlines()]
    return [line for line in lines if line]


def command(line: str) -> list[str]:
    words = shlex.split(line)
    if words[0] == "jupyter":
        return [*_jupyter(), *words[1:]]
    if words[0] == "papermill":
        return [sys.executable, "-m", "papermill", *words[1:]]
    return words


def answers(saved: Path) -> list[str]:
    notebook = nbformat.read(saved, as_version=4)
    return [
        out["data"]["text/markdown"]
        for cell in notebook.cells
        for out in cell.get("outputs", [])
        if "text/markdown" in out.get("data", {}) and "kimi_magic" in out.get("metadata", {})
    ]


def test_the_readme_offline_steps_run_the_quickstart_with_no_setup(tmp_path: Path) -> None:
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KIMI_MAGIC_", "CLOUDFLARE_"))}
    env = {k: v for k, v in env.items() if not k.startswith("CF_")}
    env.update(XDG_CONFIG_HOME=str(tmp_path / "config"), XDG_CACHE_HOME=str(tmp_path / "cache"))
    ran = []
    for line in readme_steps():
        if line.startswith("export "):
            name, _, value = line.removeprefix("export ").partition("=")
            env[name] = value
            continue
        if line.startswith(INTERACTIVE):
            continue
        saved = tmp_path / "notebooks" / "run.ipynb"
        saved.unlink(missing_ok=True)
        done = subprocess.run(
            command(line),
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        log = done.stdout + done.stderr
        assert done.returncode == 0, f"`{line}` failed:\n{log[-3000:]}"
        if not saved.exists():  # papermill writes where it was told: the cwd's run.ipynb
            saved = tmp_path / "run.ipynb"
        found = answers(saved)
        assert found and all(a.strip() for a in found), f"`{line}` saved no answer"
        assert any("This reply comes from the kimi_magic emulator" in a for a in found)
        text = json.dumps(nbformat.read(saved, as_version=4))
        assert "replies are SIMULATED" in text  # said when the extension loaded
        assert WIDGET_VIEW not in text
        saved.unlink()
        ran.append(line.split()[0])
    assert env.get("KIMI_MAGIC_EMULATOR") == "1"
    assert ran == ["jupyter", "papermill"]


SCRIPT = """
import kimi_magic

def shout(word: str) -> str:
    '''The word in capitals.'''
    return word.upper()

answer = kimi_magic.ask("Shout `hello`", tools=[shout])
print(answer.text)
"""


def test_a_script_with_the_variable_set_uses_the_emulator_and_its_tools(tmp_path: Path) -> None:
    with offline_environment(tmp_path):
        done = subprocess.run(
            [sys.executable, "-c", SCRIPT],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "`shout`" in done.stdout and "HELLO" in done.stdout
    assert "not from Kimi K2.6" in done.stdout
