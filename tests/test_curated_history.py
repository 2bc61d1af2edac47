"""Curated history through the magic: `%kimi history` numbers the turns, `forget` stops sending
turns, `pin` keeps a turn when the window trims old ones, `edit` replaces a turn's text; each
shown by what the NEXT request sends. Save and load keep the marks."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


def sent(emulator: Emulator, role: str) -> list[Any]:
    return [m["content"] for m in emulator.requests[-1]["json"]["messages"] if m["role"] == role]


def ask(shell: Any, *questions: str) -> None:
    for question in questions:
        result = shell.run_cell(f"%kimi {question}")
        assert result.error_in_exec is None, result.error_in_exec


def test_history_numbers_the_turns_and_shows_the_marks(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "One."}, {"content": "Two."})
    ask(controls_shell, "first?", "second?")
    ask(controls_shell, "forget 1", "pin 2")
    capsys.readouterr()
    controls_shell.run_cell("%kimi history")
    out = capsys.readouterr().out
    assert "1. You: (forgotten: not sent) first?" in out.replace("*", "")
    assert "2. You: (pinned) second?" in out.replace("*", "")


def test_forget_drops_a_turn_from_the_next_request(controls_shell: Any, emulator: Emulator) -> None:
    emulator.script({"content": "A1."}, {"content": "A2."}, {"content": "A3."})
    ask(controls_shell, "q one", "q two", "q three", "forget 1")
    ask(controls_shell, "q four")
    assert sent(emulator, "user") == ["q two", "q three", "q four"]
    assert sent(emulator, "assistant") == ["A2.", "A3."]
    ask(controls_shell, "forget 2-3")
    ask(controls_shell, "q five")
    assert sent(emulator, "user") == ["q four", "q five"]
    ask(controls_shell, "forget 1 --undo")
    ask(controls_shell, "q six")
    assert sent(emulator, "user") == ["q one", "q four", "q five", "q six"]


def test_forget_a_turn_that_does_not_exist_is_one_message(
    controls_shell: Any, emulator: Emulator
) -> None:
    ask(controls_shell, "q one")
    result = controls_shell.run_cell("%kimi forget 4")
    assert "is not a turn of the conversation `default`, which has 1" in str(result.error_in_exec)


def _long(word: str) -> str:
    return f"{word} " + "lorem ipsum " * 80  # about 250 tokens


def test_pin_keeps_a_turn_when_the_window_trims(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell("%config KimiMagics.context_window = 1000")
    controls_shell.run_cell("%config KimiMagics.max_completion_tokens = 400")
    emulator.script(*[{"content": "ok"}] * 6)
    ask(controls_shell, _long("first"), _long("second"), _long("third"))
    firsts = [u.split()[0] for u in sent(emulator, "user")]
    assert firsts == ["second", "third"]  # the window trimmed the oldest
    ask(controls_shell, "pin 1")
    ask(controls_shell, _long("fourth"))
    firsts = [u.split()[0] for u in sent(emulator, "user")]
    assert firsts[0] == "first" and firsts[-1] == "fourth"  # pinned: kept over newer turns
    assert "second" not in firsts


def test_the_context_gauge_shows_a_forgotten_turn_gone(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(*[{"content": "ok"}] * 3)
    ask(controls_shell, _long("first"), "short")
    used = re.findall(r"context ([\d,]+) /", capsys.readouterr().out)
    ask(controls_shell, "forget 1")
    ask(controls_shell, "short again")
    (after,) = re.findall(r"context ([\d,]+) /", capsys.readouterr().out)
    assert int(after.replace(",", "")) < int(used[-1].replace(",", "")) - 200


def test_edit_replaces_the_answer_or_the_question_sent_next(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script({"content": "The total is 41."}, {"content": "ok"}, {"content": "ok"})
    ask(controls_shell, "what is the total?")
    ask(controls_shell, "edit 1 The total is 42 (checked by hand).")
    ask(controls_shell, "and doubled?")
    assert sent(emulator, "assistant") == ["The total is 42 (checked by hand)."]
    ask(controls_shell, "edit --question 1 what is the grand total?")
    ask(controls_shell, "and halved?")
    assert sent(emulator, "user")[0] == "what is the grand total?"
    capsys.readouterr()
    controls_shell.run_cell("%kimi history")
    assert "(answer edited, question edited)" in capsys.readouterr().out.replace("*", "")


def test_save_and_load_keep_pins_forgotten_turns_and_edits(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    emulator.script({"content": "A1."}, {"content": "A2."}, {"content": "A3."})
    ask(controls_shell, "q one", "q two", "q three")
    ask(controls_shell, "forget 2", "pin 1", "edit 3 A3 fixed.", "save chats.json")
    ask(controls_shell, "reset --all", "load chats.json")
    (first, second, third) = magics(controls_shell).session.conversation().exchanges
    assert (first.pinned, second.forgotten, third.edited) == (True, True, ["answer"])
    ask(controls_shell, "q four")
    assert sent(emulator, "user") == ["q one", "q three", "q four"]
    assert sent(emulator, "assistant") == ["A1.", "A3 fixed."]
