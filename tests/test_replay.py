"""Record and replay: a stable JSON-lines file with every whole answer and its usage, replayed
with no network and no credentials, streamed in pieces; recording the same session twice gives
the same bytes; a changed request is a clear error."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.api.replay import ReplayClient, ReplayMissing
from kimi_magic.core.types import TextDelta
from kimi_magic.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from kernel_session import KernelSession

CREDENTIALS = ("CLOUDFLARE_ACCOUNT_ID", "CLOUDFLARE_API_TOKEN", "KIMI_MAGIC_BASE_URL")


@pytest.fixture
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No config files or KIMI_MAGIC_* settings from the machine; tmp_path as the cwd."""
    import os

    for name in list(os.environ):
        if name.startswith(("KIMI_MAGIC_", "CLOUDFLARE_", "CF_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    return tmp_path


def connect(emulator: Emulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "account_id": emulator.account_id,
        "api_token": emulator.token,
    }


def test_a_recording_holds_answer_and_usage_and_is_the_same_bytes_on_a_rerun(
    emulator: Emulator, isolated: Path
) -> None:
    path = isolated / "answers.jsonl"
    first = kimi_magic.ask("Name three plots", record=str(path), **connect(emulator))
    recorded = path.read_bytes()
    second = kimi_magic.ask("Name three plots", record=str(path), **connect(emulator))

    assert path.read_bytes() == recorded  # a rerun with the same answers: a clean git diff
    [entry] = [json.loads(line) for line in recorded.decode().splitlines()]
    assert entry["answer"]["text"] == first.text == second.text
    assert entry["usage"] == [
        first.usage.prompt_tokens,
        first.usage.cached_tokens,
        first.usage.completion_tokens,
    ]
    text = recorded.decode()
    assert emulator.token not in text and "EMU" not in text and "chatcmpl" not in text


def test_replay_answers_without_network_or_credentials(emulator: Emulator, isolated: Path) -> None:
    path = isolated / "answers.jsonl"
    live = kimi_magic.ask(
        "Explain a left join", temperature=0.2, record=str(path), **connect(emulator)
    )
    emulator.reset()

    replayed = kimi_magic.ask("Explain a left join", temperature=0.2, replay=str(path))
    assert replayed.text == live.text and replayed.reasoning == live.reasoning
    assert replayed.usage == live.usage
    assert emulator.requests == []


def test_a_changed_prompt_says_what_differs_from_the_nearest_recording(
    emulator: Emulator, isolated: Path
) -> None:
    path = isolated / "answers.jsonl"
    kimi_magic.ask("Suggest three plots for this table", record=str(path), **connect(emulator))
    kimi_magic.ask("Say hello", record=str(path), **connect(emulator))

    with pytest.raises(ReplayMissing) as caught:
        kimi_magic.ask("Suggest four plots for this table", replay=str(path))
    message = str(caught.value)
    assert "not in the replay file" in message and "nothing was sent" in message
    assert 'recorded "Suggest three plots' in message and 'now "Suggest four plots' in message

    with pytest.raises(ReplayMissing) as caught:
        kimi_magic.ask("Say hello", temperature=0.9, replay=str(path))
    assert "temperature: recorded null, now 0.9" in str(caught.value)


def test_replay_streams_the_answer_in_pieces(emulator: Emulator, isolated: Path) -> None:
    path = isolated / "answers.jsonl"
    emulator.script({"content": "A slow answer, streamed in many small chunks. " * 3})
    live = kimi_magic.ask("Go slowly", record=str(path), **connect(emulator))

    events = list(ReplayClient(path).stream([{"role": "user", "content": "Go slowly"}]))
    assert sum(isinstance(e, TextDelta) for e in events) > 5  # a class still sees it arrive
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == live.text


SESSION_TOOL_ROUND = {"tool_calls": [{"name": "add", "arguments": '{"a": 2, "b": 3}'}]}


def add(a: int, b: int) -> int:
    """Add two numbers."""
    return a + b


def record_a_session(emulator: Emulator, path: Path, rate: float) -> None:
    """A session of a plain question, a tool loop and a follow-up, answered at `rate` chunks
    a second (so every timing differs between two recordings)."""
    slow = {"chunk_chars": 4, "rate": rate}
    emulator.script(
        {"reasoning": "Think first.", "content": "Three plots: line, bar, box.", **slow},
        {**SESSION_TOOL_ROUND, **slow},
        {"content": "2 + 3 = 5", **slow},
        {"content": "Box plots show the spread.", **slow},
    )
    session = kimi_magic.Session(connection=connect(emulator))
    try:
        session.ask("Name three plots", record=str(path), temperature=0.2)
        session.ask("Add 2 and 3", record=str(path), tools=[add])
        session.ask("Which shows the spread?", record=str(path))
    finally:
        session.close()


def test_recording_the_same_session_twice_gives_the_same_bytes(
    emulator: Emulator, isolated: Path
) -> None:
    first, second = isolated / "first.jsonl", isolated / "second.jsonl"
    record_a_session(emulator, first, rate=400)
    record_a_session(emulator, second, rate=60)

    assert len(first.read_text().splitlines()) == 4  # every request of the session
    assert first.read_bytes() == second.read_bytes()


def test_a_missing_replay_file_is_a_clear_error(isolated: Path) -> None:
    with pytest.raises(ReplayMissing) as caught:
        kimi_magic.ask("Hi", replay=str(isolated / "nowhere.jsonl"))
    assert "does not exist" in str(caught.value) and "Record it first" in str(caught.value)


RECORD_AND_SHOW = """
import kimi_magic, json
texts = kimi_magic.map(["cats", "dogs", "owls"], "One fact about {item}", progress=False,
                       checkpoint=False, **{mode: "answers.jsonl"})
answer = kimi_magic.ask("Explain a left join", **{mode: "answers.jsonl"})
print(json.dumps([list(texts), answer.text, answer.usage.completion_tokens]))
"""


def test_recorded_in_one_kernel_replayed_in_a_fresh_one_with_no_emulator(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Emulator(token="kernel-replay-secret") as emu:
        env = {
            "KIMI_MAGIC_BASE_URL": emu.base_url,
            "CLOUDFLARE_ACCOUNT_ID": emu.account_id,
            "CLOUDFLARE_API_TOKEN": emu.token,
        }
        with KernelSession(env) as kernel:
            kernel.run(f"import os; os.chdir({str(isolated)!r}); mode = 'record'")
            run = kernel.run(RECORD_AND_SHOW)
            assert not run.errors, run.errors[0]["content"]["traceback"]
            recorded = run.stream_text()
        assert len(emu.requests) == 4
    # The emulator is gone and the kernel gets no credentials at all.
    with KernelSession({}) as kernel:
        kernel.run(f"import os; os.chdir({str(isolated)!r}); mode = 'replay'")
        check = kernel.run(f"import os; print(any(n in os.environ for n in {CREDENTIALS!r}))")
        assert check.stream_text().strip() == "False"
        replayed = kernel.run(RECORD_AND_SHOW)
    assert not replayed.errors, replayed.errors
    assert json.loads(replayed.stream_text()) == json.loads(recorded)
    assert "kernel-replay-secret" not in (isolated / "answers.jsonl").read_text()


def test_the_magic_records_and_replays_through_its_settings(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "lesson.jsonl"
    emulator.script({"content": "A left join keeps every row of the left table."})
    controls_shell.run_line_magic("config", f"KimiMagics.record = {str(path)!r}")
    controls_shell.run_cell_magic("kimi", "--new -o live", "Explain a left join")
    live = controls_shell.user_ns["live"]
    assert path.is_file() and "keeps every row" in path.read_text()

    emulator.reset()
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
        monkeypatch.delenv(name)
    controls_shell.run_line_magic("config", "KimiMagics.record = ''")
    controls_shell.run_line_magic("config", f"KimiMagics.replay = {str(path)!r}")
    controls_shell.run_cell_magic("kimi", "--new -o again", "Explain a left join")
    assert str(controls_shell.user_ns["again"]) == str(live)
    assert emulator.requests == []


def test_a_damaged_replay_file_names_the_line(isolated: Path) -> None:
    path = isolated / "answers.jsonl"
    path.write_text('{"key": "a", "request": {}, "answer": {}}\n<<<<<<< HEAD\n')
    with pytest.raises(ReplayMissing) as caught:
        ReplayClient(path)
    assert "Line 2" in str(caught.value) and "merge conflict" in str(caught.value)
