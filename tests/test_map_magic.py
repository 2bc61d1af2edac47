"""The magic forms of map and replay: `%%kimi --map NAME -o OUT` runs the cell over every row,
and `%kimi record FILE` / `%kimi replay FILE` keep and replay answers with no server."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator

pd = pytest.importorskip("pandas")


def test_map_a_dataframe_with_a_schema_into_columns(
    controls_shell: Any, emulator: Emulator, schema_checked: None
) -> None:
    shell = controls_shell
    shell.user_ns["reviews"] = pd.DataFrame(
        {"text": ["Great battery", "Broke in a week", "Fine"]}, index=[10, 20, 30]
    )
    shell.user_ns["Verdict"] = {
        "type": "object",
        "properties": {"mood": {"type": "string"}},
        "required": ["mood"],
    }
    emulator.script(*({"content": f'{{"mood": "{mood}"}}'} for mood in ("happy", "angry", "calm")))
    result = shell.run_cell(
        "%%kimi --map reviews --schema Verdict -o moods --concurrency 1\n"
        "The mood of this review: {text}"
    )
    assert result.error_in_exec is None, result.error_in_exec
    moods = shell.user_ns["moods"]
    assert list(moods.index) == [10, 20, 30] and list(moods["mood"]) == ["happy", "angry", "calm"]
    asked = [r["json"]["messages"][-1]["content"] for r in emulator.requests]
    assert any("Broke in a week" in str(text) for text in asked)


def test_map_names_the_closest_variable_and_sends_nothing(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["reviews"] = ["a", "b"]
    result = controls_shell.run_cell("%%kimi --map reveiws -o out\nOne word for {item}")
    error = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "'reviews'" in error and emulator.requests == []


def test_record_then_replay_with_the_commands(
    controls_shell: Any, emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "class.jsonl"
    emulator.script({"content": "Recorded once."})
    controls_shell.run_line_magic("kimi", f"record {path}")
    controls_shell.run_cell_magic("kimi", "--new -o first", "What is a join?")
    controls_shell.run_line_magic("kimi", "record off")
    assert "Recorded once." in path.read_text()
    emulator.reset()
    for name in ("CLOUDFLARE_API_TOKEN", "CLOUDFLARE_ACCOUNT_ID"):
        monkeypatch.delenv(name)
    controls_shell.run_line_magic("kimi", f"replay {path}")
    controls_shell.run_cell_magic("kimi", "--new -o again", "What is a join?")
    assert str(controls_shell.user_ns["again"]) == "Recorded once." and emulator.requests == []
    controls_shell.run_line_magic("kimi", "replay off")
    assert magics_session(controls_shell).overrides.get("replay") is None


def magics_session(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"].session
