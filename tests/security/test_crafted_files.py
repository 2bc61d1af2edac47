"""Crafted files: a save, replay or checkpoint file with wrong types, missing keys, deep
nesting, bytes that are not UTF-8 or a folder in its place is one paragraph naming the file
and what is wrong, never a traceback, through the entry points users call."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.core.errors import KimiError
from kimi_magic.emulator import Emulator

DEEP = "[" * 100_000 + "]" * 100_000  # json.loads raises RecursionError on this
SAVE_HEAD = {"format": "kimi_magic.conversations", "version": 2}


def one_paragraph(message: str, path: Path) -> None:
    """What the user reads: one paragraph that names the file, no traceback."""
    assert "Traceback" not in message and "\n" not in message.strip(), message
    assert path.name in message, message


def load_in_magic(shell: Any, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """`%kimi load FILE` as a user runs it: the error it shows, checked for a traceback."""
    capsys.readouterr()
    result = shell.run_cell(f"%kimi load {path.name}")
    shown = capsys.readouterr()
    assert "Traceback" not in shown.out + shown.err
    error = result.error_in_exec
    assert type(error).__name__ == "UsageError", repr(error)
    return str(error)


# -- save files (%kimi load) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "content",
    [
        pytest.param({**SAVE_HEAD, "conversations": 5}, id="a-number-for-the-conversations"),
        pytest.param(
            {**SAVE_HEAD, "conversations": [{"messages": ["hi", "there"]}]},
            id="strings-for-messages",
        ),
        pytest.param(
            {**SAVE_HEAD, "conversations": [{"exchanges": [{"user": {"role": "user"}}]}]},
            id="an-exchange-without-an-answer",
        ),
        pytest.param(
            {
                **SAVE_HEAD,
                "conversations": [
                    {
                        "exchanges": [
                            {
                                "user": {"role": "user", "content": "hi"},
                                "answer": {"text": "yo", "usage": {"prompt_tokens": "many"}},
                            }
                        ]
                    }
                ],
            },
            id="text-for-a-token-count",
        ),
        pytest.param(
            {
                **SAVE_HEAD,
                "conversations": [
                    {"exchanges": [{"user": {"role": 7, "content": "hi"}, "answer": {}}]}
                ],
            },
            id="a-number-for-a-role",
        ),
    ],
)
def test_a_save_file_with_wrong_types_is_one_paragraph(
    controls_shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str], content: Any
) -> None:
    path = tmp_path / "chats.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    message = load_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "damaged" in message


def test_a_deeply_nested_save_file_is_one_paragraph(
    controls_shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "deep.json"
    path.write_text(DEEP, encoding="utf-8")
    message = load_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "nested" in message


def test_a_save_file_nested_past_the_limit_inside_a_message_is_one_paragraph(
    controls_shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Deep enough to pass json.loads, but not what any message holds.
    nested: Any = "x"
    for _ in range(500):
        nested = [nested]
    content = {**SAVE_HEAD, "conversations": [{"exchanges": [{"user": {"content": nested}}]}]}
    path = tmp_path / "nested.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    message = load_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "nested" in message


def test_a_save_file_that_is_not_utf8_is_one_paragraph(
    controls_shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "latin.json"
    path.write_bytes(b'{"format": "kimi_magic.conversations", "x": "\xff\xfe"}')
    message = load_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "UTF-8" in message


def test_a_folder_in_place_of_a_save_file_is_one_paragraph(
    controls_shell: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "chats"
    path.mkdir()
    message = load_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "folder" in message


# -- replay files (the replay setting, %%kimi and the API) ----------------------------------------


def replay_in_magic(shell: Any, path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    shell.run_line_magic("config", f"KimiMagics.replay = {str(path)!r}")
    capsys.readouterr()
    result = shell.run_cell("%%kimi --new\nExplain a left join")
    shown = capsys.readouterr()
    shell.run_line_magic("config", "KimiMagics.replay = ''")
    assert "Traceback" not in shown.out + shown.err
    error = result.error_in_exec
    assert type(error).__name__ == "UsageError", repr(error)
    return str(error)


@pytest.mark.parametrize(
    "line",
    [
        pytest.param({"key": "a", "request": 5, "answer": {"text": "hi"}}, id="a-number-request"),
        pytest.param({"key": "a", "request": {}, "answer": [1, 2]}, id="a-list-answer"),
        pytest.param(
            {"key": "a", "request": {}, "answer": {"text": "hi", "tool_calls": [5]}},
            id="a-number-tool-call",
        ),
        pytest.param({"key": "a", "request": {}, "answer": {}, "usage": 3}, id="a-number-usage"),
    ],
)
def test_a_replay_file_with_wrong_types_is_one_paragraph(
    controls_shell: Any,
    emulator: Emulator,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    line: Any,
) -> None:
    path = tmp_path / "lesson.jsonl"
    path.write_text(json.dumps(line) + "\n", encoding="utf-8")
    message = replay_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "Line 1" in message
    assert emulator.requests == []


def test_a_deeply_nested_replay_file_is_one_paragraph(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lesson.jsonl"
    path.write_text(DEEP + "\n", encoding="utf-8")
    message = replay_in_magic(controls_shell, path, capsys)
    one_paragraph(message, path)
    assert "nested" in message and emulator.requests == []


def test_a_folder_in_place_of_a_replay_file_is_one_paragraph_through_the_api(
    tmp_path: Path, emulator_connection: dict[str, Any]
) -> None:
    path = tmp_path / "answers.jsonl"
    path.mkdir()
    with pytest.raises(KimiError) as caught:
        kimi_magic.ask("Hi", replay=str(path))
    one_paragraph(str(caught.value), path)
    assert "folder" in str(caught.value)


# -- map checkpoints (kimi_magic.map resuming) --------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        pytest.param('{"batch": "req-1", "items": 5}', id="a-number-for-the-batch-items"),
        pytest.param('{"batch": "req-1", "items": [[1]]}', id="a-batch-item-without-a-key"),
        pytest.param('{"i": 0, "key": "k", "text": "t", "usage": 5}', id="a-number-usage"),
        pytest.param(
            '{"i": 0, "key": "k", "text": "t", "usage": ["a", "b", "c"]}', id="text-usage"
        ),
        pytest.param('{"i": 0, "key": "k", "text": ["t"]}', id="a-list-for-the-text"),
        pytest.param('["i", 0]', id="a-list-for-a-record"),
        pytest.param(DEEP, id="deep-nesting"),
    ],
)
def test_a_crafted_checkpoint_is_one_paragraph_and_nothing_is_sent(
    emulator: Emulator, emulator_connection: dict[str, Any], tmp_path: Path, line: str
) -> None:
    path = tmp_path / "job.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(KimiError) as caught:
        kimi_magic.map(["a", "b"], "Echo {item}", checkpoint=path, **emulator_connection)
    one_paragraph(str(caught.value), path)
    assert "checkpoint" in str(caught.value)
    assert emulator.requests == []


def test_a_folder_in_place_of_a_checkpoint_is_one_paragraph(
    emulator: Emulator, emulator_connection: dict[str, Any], tmp_path: Path
) -> None:
    path = tmp_path / "job.jsonl"
    path.mkdir()
    with pytest.raises(KimiError) as caught:
        kimi_magic.map(["a"], "Echo {item}", checkpoint=path, **emulator_connection)
    one_paragraph(str(caught.value), path)
    assert "folder" in str(caught.value) and emulator.requests == []


# -- the response cache --------------------------------------------------------------------------


def test_a_crafted_cache_entry_is_ignored_and_the_question_is_asked(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    controls_shell.run_cell("%kimi --cache --new --seed 3 what is 2+2?")
    entries = list((tmp_path / "cache").rglob("*.json"))
    assert entries and len(emulator.requests) == 1
    for entry in entries:
        entry.write_text(DEEP, encoding="utf-8")
    capsys.readouterr()
    result = controls_shell.run_cell("%kimi --cache --new --seed 3 what is 2+2?")
    shown = capsys.readouterr()
    assert result.error_in_exec is None and "Traceback" not in shown.out + shown.err
    assert len(emulator.requests) == 2  # asked again, as if nothing were cached
