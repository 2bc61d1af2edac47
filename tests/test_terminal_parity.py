"""In a plain IPython (no kernel, no notebook) every `%kimi` command says what it did, `%kimi
fix` says where the corrected code went, and the public functions work or say plainly that
they need a notebook (issue 16)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator

# Each command with arguments that make it do its work; what it prints must say what it did.
COMMANDS = {
    "config": ("config", "model"),
    "help": ("help", "%kimi commands"),
    "history": ("history", "Hi"),
    "usage": ("usage", "calls"),
    "save": ("save chats.json", "Saved 1 conversation"),
    "load": ("load chats.json", "Loaded conversations"),
    "reset": ("reset", "Forgot the conversation `default`"),
    "reset --all": ("reset --all", "Forgot every conversation"),
    "wait": ("wait", "No background answer"),
    "mcp": ("mcp", "MCP"),
    "record": ("record answers.jsonl", "answers.jsonl"),
    "record off": ("record off", "record"),
    "replay": ("replay answers.jsonl", "answers.jsonl"),
    "replay off": ("replay off", "replay"),
    "trust": ("trust", "pyproject.toml"),
    "untrust": ("untrust", "pyproject.toml"),
    "panel": ("panel", "panel"),
    "forget": ("forget 1", "forgotten"),
    "pin": ("pin 1", "pinned"),
    "edit": ("edit 1 Hello.", "marked as edited"),
    "export": ("export chat.md", "Exported `default`"),
}


@pytest.mark.parametrize("line, says", COMMANDS.values(), ids=COMMANDS.keys())
def test_every_command_says_what_it_did(
    line: str,
    says: str,
    controls_shell: Any,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.kimi_magic]\ntemperature = 0.5\n")
    emulator.script({"content": "Hi there."})
    controls_shell.run_line_magic("kimi", "Hi")
    if line.startswith("load"):
        controls_shell.run_line_magic("kimi", "save chats.json")
    if line.startswith("replay"):
        controls_shell.run_line_magic("kimi", "record answers.jsonl")
        controls_shell.run_line_magic("kimi", "record off")
    if line == "untrust":
        controls_shell.run_line_magic("kimi", "trust")
    capsys.readouterr()
    controls_shell.run_line_magic("kimi", line)
    printed = capsys.readouterr()
    shown = printed.out + printed.err
    assert shown.strip(), f"`%kimi {line}` printed nothing"
    assert says.lower() in shown.lower(), shown


def test_fix_says_where_the_code_went(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_cell("numbers = ['1', '2']\ntotal = sum(numbers)")
    emulator.script({"content": "Convert first.\n\n```python\ntotal = sum(map(int, numbers))\n```"})
    capsys.readouterr()
    controls_shell.run_line_magic("kimi", "fix")
    shown = capsys.readouterr().out
    assert "next prompt" in shown and "total = sum(map(int, numbers))" in shown
    assert controls_shell.rl_next_input == "total = sum(map(int, numbers))"


def test_wait_in_a_script_returns_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import kimi_magic; print('waited', kimi_magic.wait())"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "waited True" and "Traceback" not in done.stderr


def test_panel_in_a_script_says_it_needs_a_notebook() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import kimi_magic; kimi_magic.panel()"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "needs a notebook or IPython" in done.stderr


@pytest.mark.parametrize("typed", ["", "y"], ids=["nobody-answers", "approved"])
def test_the_terminal_approval_prompt_denies_when_nobody_answers(
    typed: str, emulator: Emulator, tmp_path: Path
) -> None:
    """Terminal IPython in a real terminal (a pty): run_python's prompt waits approve_timeout
    seconds for an answer, then denies and tells the model; a typed `y` runs the code."""
    import os

    import pexpect  # IPython's own dependency on POSIX

    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    emulator.script(
        {"tool_calls": [{"name": "run_python", "arguments": {"code": code}}]},
        {"content": "Result: {{tool_result:0}}"},
    )
    env = dict(
        os.environ,
        KIMI_MAGIC_BASE_URL=emulator.base_url,
        CLOUDFLARE_ACCOUNT_ID=emulator.account_id,
        CLOUDFLARE_API_TOKEN=emulator.token,
        XDG_CONFIG_HOME=str(tmp_path / "config"),
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        TERM="dumb",
    )
    shell = pexpect.spawn(
        sys.executable,
        ["-m", "IPython", "--no-banner", "--colors=NoColor", "--simple-prompt"],
        env=env,
        cwd=str(tmp_path),
        encoding="utf-8",
        timeout=120,
    )
    try:
        shell.expect(r"In \[1\]: ")
        shell.sendline("%load_ext kimi_magic")
        shell.expect(r"In \[2\]: ")
        shell.sendline("%kimi --tools python --approve-timeout 1 Write the file")
        shell.expect_exact("Run it? [y/N] ")
        if typed:
            shell.sendline(typed)
        shell.expect(r"In \[3\]: ")
        shown = shell.before
    finally:
        shell.sendline("exit")
        shell.close(force=True)
    if typed:
        assert marker.read_text() == "ran"
    else:
        assert not marker.exists()
        assert "not answered within 1 s (approve_timeout), denied" in shown
        sent = emulator.requests[-1]["json"]["messages"][-1]["content"]
        assert "nobody answered the prompt within 1 s" in sent


@pytest.mark.parametrize("typed", ["y", "n"])
def test_a_console_kernel_client_is_asked_on_its_stdin(
    typed: str, emulator: Emulator, tmp_path: Path
) -> None:
    """A console (jupyter console, qtconsole) sends allow_stdin but shows no widgets: the
    approval is a prompt on its stdin channel, not buttons nobody can see."""
    from kernel_session import kernel_aimed_at

    marker = tmp_path / "ran.txt"
    code = f"open({str(marker)!r}, 'w').write('ran')"
    prompts: list[str] = []

    def user(prompt: str) -> str:
        prompts.append(prompt)
        return typed

    with kernel_aimed_at(emulator, tmp_path, widgets=False) as kernel:
        emulator.script(
            {"tool_calls": [{"name": "run_python", "arguments": {"code": code}}]},
            {"content": "Result: {{tool_result:0}}"},
        )
        ran = kernel.run("%kimi --tools python Write the file", stdin=user)
    assert prompts == ["Run it? [y/N] "]
    shown = "".join(m["content"].get("text", "") for m in ran.messages if m["msg_type"] == "stream")
    assert "Kimi wants to run this code in your namespace" in shown and code in shown
    assert not any(
        m["content"].get("target_name") == "jupyter.widget"
        for m in ran.messages
        if m["msg_type"] == "comm_open"
    )  # no buttons were made
    assert marker.exists() is (typed == "y")
