"""`%kimi` / `%%kimi` in an in-process IPython shell (no kernel: stdout rendering) and scripts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from IPython.core.interactiveshell import InteractiveShell

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.usefixtures("schema_checked")


@pytest.fixture
def shell(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[InteractiveShell]:
    monkeypatch.setenv("KIMI_MAGIC_BASE_URL", emulator.base_url)
    monkeypatch.setenv("CLOUDFLARE_ACCOUNT_ID", emulator.account_id)
    monkeypatch.setenv("CLOUDFLARE_API_TOKEN", emulator.token)
    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "kimi_magic")
    ip.run_line_magic("kimi", "reset")
    yield ip
    ip.run_line_magic("unload_ext", "kimi_magic")


def sent_messages(emulator: Emulator, index: int = -1) -> list[dict]:
    return emulator.requests[index]["json"]["messages"]


def test_cell_and_line_forms_stream_to_stdout_and_share_history(
    shell: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"reasoning": "hmm", "content": "First answer."}, {"content": "Second."})
    shell.run_cell("%%kimi\nWhat is 2+2?")
    shell.run_cell("%kimi and what is that squared?")
    out = capsys.readouterr().out
    assert "Thinking: hmm" in out and "First answer." in out and "Second." in out
    assert "in " in out and "out " in out and "$" in out  # the footer line
    second = sent_messages(emulator)
    assert [m["content"] for m in second] == [
        "What is 2+2?\n",
        "First answer.",
        "and what is that squared?",
    ]


def test_reset_new_and_named_chats(shell: InteractiveShell, emulator: Emulator) -> None:
    shell.run_cell("%kimi one")
    shell.run_cell("%%kimi --new\nstandalone")
    assert len(sent_messages(emulator)) == 1
    shell.run_cell("%kimi --chat other side question")
    assert len(sent_messages(emulator)) == 1
    shell.run_cell("%kimi two")
    assert [m["content"] for m in sent_messages(emulator) if m["role"] == "user"] == ["one", "two"]
    shell.run_cell("%kimi reset")
    shell.run_cell("%kimi three")
    assert len(sent_messages(emulator)) == 1


def test_flags_reach_the_request(
    shell: InteractiveShell, emulator: Emulator, validate_request: object
) -> None:
    shell.run_cell(
        "%%kimi -t 0.3 --top-p 0.8 --seed 5 --max-tokens 300 --effort high "
        "--system 'Be terse.'\nhello"
    )
    body = emulator.requests[-1]["json"]
    assert (
        body["temperature"],
        body["top_p"],
        body["seed"],
        body["max_completion_tokens"],
        body["reasoning_effort"],
    ) == (0.3, 0.8, 5, 300, "high")
    assert body["messages"][0] == {"role": "system", "content": "Be terse."}
    shell.run_cell("%kimi --effort off what is -1 squared?")
    body = emulator.requests[-1]["json"]
    assert body["chat_template_kwargs"] == {"thinking": False, "enable_thinking": False}
    assert "reasoning_effort" not in body
    assert body["messages"][-1]["content"] == "what is -1 squared?"
    for request in emulator.requests:
        validate_request(request["json"])  # type: ignore[operator]


def test_a_trailing_question_mark_is_a_question(
    shell: InteractiveShell, emulator: Emulator
) -> None:
    shell.run_cell("%kimi what is a Series?")
    assert sent_messages(emulator)[-1]["content"] == "what is a Series?"


def test_errors_are_one_paragraph(
    shell: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 429, "code": 3036}})
    result = shell.run_cell("%kimi hello")
    err = capsys.readouterr().err
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "daily free Workers AI allocation" in err and "Traceback" not in err
    result = shell.run_cell("%kimi --temperature hot hi")
    assert str(result.error_in_exec).startswith("Could not read the flags '--temperature hot'")
    assert len(emulator.requests) == 1  # nothing sent for it
    result = shell.run_cell("%kimi")
    assert "nothing to ask" in str(result.error_in_exec)


def test_missing_credentials_tell_what_to_set(
    shell: InteractiveShell, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "KIMI_MAGIC_BASE_URL"):
        monkeypatch.delenv(name)
    result = shell.run_cell("%kimi hello")
    assert "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN" in str(result.error_in_exec)
    assert "python -m kimi_magic.emulator" in str(result.error_in_exec)


def test_keyboard_interrupt_keeps_partial_answer_in_history(
    shell: InteractiveShell, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    words = " ".join(f"w{i}" for i in range(400))
    emulator.script({"content": words, "chunk_chars": 4, "rate": 40})
    timer = threading.Timer(
        0.6, signal.pthread_kill, (threading.main_thread().ident, signal.SIGINT)
    )
    timer.start()
    result = shell.run_cell("%kimi count")
    timer.join()
    out = capsys.readouterr().out
    assert "Interrupted" in str(result.error_in_exec)
    assert "w0 w1" in out and "Interrupted" in out
    shell.run_cell("%kimi go on")
    kept = sent_messages(emulator)[-2]
    assert kept["role"] == "assistant" and kept["content"].startswith("w0 w1")
    assert len(kept["content"]) < len(words)


def test_plain_script_streams_to_stdout(emulator: Emulator) -> None:
    env = {
        **os.environ,
        "KIMI_MAGIC_BASE_URL": emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": emulator.account_id,
        "CLOUDFLARE_API_TOKEN": emulator.token,
    }
    emulator.script({"reasoning": "think", "content": "From a script."})
    done = subprocess.run(
        [sys.executable, "-m", "kimi_magic", "-t", "0.1", "hello", "there"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "From a script." in done.stdout and "Thinking: think" in done.stdout
    assert emulator.requests[-1]["json"]["messages"][-1]["content"] == "hello there"
    assert emulator.token not in done.stdout + done.stderr


@pytest.mark.parametrize(
    "command", ["help", "panel", "history", "config", "usage", "reset", "save chats.json"]
)
def test_every_command_prints_readable_text_in_a_terminal(
    shell: InteractiveShell,
    emulator: Emulator,
    command: str,
    capsys: pytest.CaptureFixture[str],
    tmp_path: os.PathLike[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    emulator.script({"content": "An answer."})
    shell.run_cell("%kimi a question")
    capsys.readouterr()
    result = shell.run_cell(f"%kimi {command}")
    out = capsys.readouterr().out
    assert result.error_in_exec is None
    for noise in ("<IPython.core.display", "VBox(", "<sub>", "<small>", "object at 0x"):
        assert noise not in out, f"%kimi {command} printed {noise!r}:\n{out}"
    expected = {
        "help": "%kimi history",
        "panel": "%config KimiMagics.",
        "history": "You: a question",
        "config": "temperature",
        "usage": "total",
        "reset": "",
        "save chats.json": "",
    }[command]
    assert expected in out


def test_the_line_magic_refuses_an_unknown_flag(
    shell: InteractiveShell, emulator: Emulator
) -> None:
    result = shell.run_cell("%kimi --temprature 3 hi")
    error = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "Unknown flag --temprature" in error and "--temperature" in error
    assert emulator.requests == []  # nothing was sent, not even as a question
    shell.run_cell("%kimi -1 < 0 is true?")  # a dash that is no flag is still a question
    assert sent_messages(emulator)[-1]["content"] == "-1 < 0 is true?"


def test_unload_ext_takes_the_magic_away(kimi_shell: InteractiveShell) -> None:
    from kimi_magic.magic.extension import loaded

    kimi_shell.run_line_magic("unload_ext", "kimi_magic")
    try:
        assert loaded(kimi_shell) is None  # map in plain Python finds no notebook session
        assert kimi_shell.find_line_magic("kimi") is None
        assert kimi_shell.find_cell_magic("kimi") is None
    finally:
        kimi_shell.run_line_magic("load_ext", "kimi_magic")  # the fixture unloads it again
