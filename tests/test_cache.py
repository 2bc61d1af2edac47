"""The opt-in response cache: an identical request is answered from disk (the emulator records
only one request), rendered through the normal renderer; `--refresh` bypasses it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


def test_the_cache_avoids_a_second_request(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "Cached answer.", "reasoning": "Think once."})
    controls_shell.run_cell("%kimi --cache --new --seed 3 what is 2+2?")
    first = capsys.readouterr().out
    controls_shell.run_cell("%kimi --cache --new --seed 3 what is 2+2?")
    second = capsys.readouterr().out
    assert len(emulator.requests) == 1
    assert "Cached answer." in first and "Cached answer." in second
    assert "Thinking: Think once." in second  # the reasoning replays too
    assert "from the local cache, nothing sent or paid" in second
    assert list((tmp_path / "cache" / "kimi_magic" / "responses").glob("*.json"))
    assert magics(controls_shell).session.ledger.total.calls == 1  # a cached reply costs nothing


def test_an_unwritable_cache_folder_keeps_the_answer(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the cache folder should go")
    controls_shell.run_line_magic("config", f"KimiMagics.cache_dir = {str(blocker)!r}")
    emulator.script({"content": "Still answered."})
    result = controls_shell.run_cell("%kimi --cache --new -o kept q")
    out = capsys.readouterr().out
    assert result.error_in_exec is None
    assert "Still answered." in out and "The answer was not cached" in out
    assert controls_shell.user_ns["kept"] == "Still answered."


def test_refresh_bypasses_and_updates_the_cache(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "Old."}, {"content": "New."})
    controls_shell.run_cell("%kimi --cache --new q")
    controls_shell.run_cell("%kimi --cache --refresh --new q")
    assert len(emulator.requests) == 2
    capsys.readouterr()
    controls_shell.run_cell("%kimi --cache --new q")
    assert len(emulator.requests) == 2 and "New." in capsys.readouterr().out


def test_config_switch_and_what_counts_as_identical(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.cache = True")
    controls_shell.run_cell("%kimi --new -t 0.2 q")
    controls_shell.run_cell("%kimi --new -t 0.2 q")  # identical: from the cache
    assert len(emulator.requests) == 1
    controls_shell.run_cell("%kimi --new -t 0.3 q")  # another parameter: a new request
    controls_shell.run_cell("%kimi --new -t 0.2 another q")  # another message
    assert len(emulator.requests) == 3
    controls_shell.run_cell("%kimi --no-cache --new -t 0.2 q")  # the flag turns it off
    assert len(emulator.requests) == 4


def test_a_random_seed_per_call_never_hits(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_line_magic("config", "KimiMagics.cache = True")
    controls_shell.run_line_magic("config", "KimiMagics.seed_mode = 'random'")
    controls_shell.run_cell("%kimi --new q")
    controls_shell.run_cell("%kimi --new q")
    assert len(emulator.requests) == 2


def test_partial_answers_are_not_cached(controls_shell: Any, emulator: Emulator) -> None:
    emulator.script(
        {
            "content": "Half an answer that breaks",
            "chunk_chars": 4,
            "fault": {"type": "disconnect", "after_chunks": 2},
        }
    )
    controls_shell.run_cell("%kimi --cache --new q")
    controls_shell.run_cell("%kimi --cache --new q")
    assert len(emulator.requests) == 2


def test_the_cache_is_off_by_default(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell("%kimi --new q")
    controls_shell.run_cell("%kimi --new q")
    assert len(emulator.requests) == 2


def test_choices_and_logprobs_replay_from_the_cache(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "Red.", "alternatives": ["Blue."]})
    controls_shell.run_cell("%kimi --cache -n 2 --top-logprobs 2 --new colour?")
    first = capsys.readouterr().out
    controls_shell.run_cell("%kimi --cache -n 2 --top-logprobs 2 --new colour?")
    second = capsys.readouterr().out
    assert len(emulator.requests) == 1
    for out in (first, second):
        assert "Choice 1 of 2" in out and "Red." in out and "Blue." in out
        assert "1 token with log probabilities" in out
