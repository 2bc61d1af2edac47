"""`%kimi usage`: per-conversation and total sums that match what the emulator reported, and
the session spending cap that refuses further calls with a clear message."""

from __future__ import annotations

from typing import Any

import pytest

from kimi_magic.core.types import Usage
from kimi_magic.emulator import Emulator


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


def reply(text: str, prompt: int, cached: int, out: int) -> dict[str, Any]:
    return {
        "content": text,
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": out,
            "prompt_tokens_details": {"cached_tokens": cached},
        },
    }


def test_usage_sums_match_the_emulators_reports(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(
        reply("a", 1200, 0, 40),
        reply("b", 900, 0, 25),
        reply("c", 2400, 1024, 60),
        reply("d", 1500, 512, 10),
    )
    for line in ("--chat eda one", "--chat plots one", "--chat eda two", "--chat plots two"):
        assert controls_shell.run_cell(f"%kimi {line}").error_in_exec is None
    ledger = magics(controls_shell).session.ledger
    assert ledger.by_conversation["eda"].usage == Usage(3600, 1024, 100)
    assert ledger.by_conversation["plots"].usage == Usage(2400, 512, 35)
    assert ledger.total.calls == 4 and ledger.total.usage == Usage(6000, 1536, 135)
    # Each answer's usage is what the emulator sent, and the ledger is their sum.
    answers = [a for c in magics(controls_shell).session.conversations.values() for a in c.answers]
    assert sum((a.usage for a in answers), Usage()) == ledger.total.usage

    capsys.readouterr()
    controls_shell.run_cell("%kimi usage")
    out = capsys.readouterr().out
    eda_cost = ((3600 - 1024) * 0.95 + 1024 * 0.16 + 100 * 4.0) / 1e6
    total_cost = ((6000 - 1536) * 0.95 + 1536 * 0.16 + 135 * 4.0) / 1e6
    assert f"| eda | 2 | 3,600 | 1,024 | 100 | ${eda_cost:.4f} |" in out
    assert "| plots | 2 | 2,400 | 512 | 35 |" in out
    assert f"| **total** | 4 | 6,000 | 1,536 | 135 | ${total_cost:.4f} |" in out


def test_the_default_usage_matches_the_emulator_estimate(
    controls_shell: Any, emulator: Emulator
) -> None:
    """Unscripted replies: the emulator's own counts reach the ledger unchanged."""
    controls_shell.run_cell("%kimi first question")
    controls_shell.run_cell("%kimi second question")
    answers = magics(controls_shell).session.conversation().answers
    assert all(a.usage.prompt_tokens > 0 and a.usage.completion_tokens > 0 for a in answers)
    assert magics(controls_shell).session.ledger.total.usage == answers[0].usage + answers[1].usage


def test_spending_cap_refuses_further_calls(controls_shell: Any, emulator: Emulator) -> None:
    emulator.script(reply("costly", 10_000, 0, 1_000))  # $0.0095 + $0.004 = $0.0135
    controls_shell.run_line_magic("config", "KimiMagics.max_cost = 0.01")
    assert controls_shell.run_cell("%kimi first").error_in_exec is None
    result = controls_shell.run_cell("%kimi second")
    message = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert "spending cap of $0.0100 is reached" in message and "$0.0135" in message
    assert "%config KimiMagics.max_cost" in message
    assert len(emulator.requests) == 1  # nothing was sent
    controls_shell.run_line_magic("config", "KimiMagics.max_cost = 1.0")
    assert controls_shell.run_cell("%kimi second").error_in_exec is None
    assert len(emulator.requests) == 2


def test_spending_cap_from_the_environment(
    controls_shell: Any,
    emulator: Emulator,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("KIMI_MAGIC_MAX_COST", "0.000001")
    controls_shell.run_cell("%kimi one")
    result = controls_shell.run_cell("%kimi two")
    assert "spending cap" in str(result.error_in_exec)
    capsys.readouterr()
    controls_shell.run_cell("%kimi usage")
    assert "Spending cap: $0.0000 per session." in capsys.readouterr().out


def test_one_off_calls_get_their_own_row(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(reply("a", 100, 0, 10), reply("b", 200, 0, 20))
    controls_shell.run_cell("%kimi --new aside")
    controls_shell.run_cell("%kimi main")
    capsys.readouterr()
    controls_shell.run_cell("%kimi usage")
    out = capsys.readouterr().out
    assert "| (--new) | 1 | 100 | 0 | 10 |" in out and "| default | 1 | 200 | 0 | 20 |" in out


def test_a_ledger_is_read_while_other_threads_add_to_it() -> None:
    """Readers take the ledger's lock too: `%kimi usage` while background answers and map jobs
    finish reads whole tallies, never a table that changes under it."""
    import threading

    from kimi_magic.core.answer import Answer
    from kimi_magic.core.usage import Ledger

    ledger, other = Ledger(), Ledger()
    writers, per_writer = 4, 300
    errors: list[BaseException] = []
    done = threading.Event()

    def add(index: int) -> None:
        for n in range(per_writer):  # a new conversation each time: the table grows
            ledger.add(f"w{index}-{n}", Answer(usage=Usage(10, 0, 1)))
            other.add("one", Answer(usage=Usage(1, 0, 1)))

    def read() -> None:
        try:
            while not done.is_set():
                table = ledger.markdown()
                total = ledger.total
                # A total read under the lock is a whole number of calls of 10 tokens each.
                assert total.usage.prompt_tokens == 10 * total.calls
                assert table.endswith("|\n")
        except BaseException as error:
            errors.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    threads = [threading.Thread(target=add, args=(i,)) for i in range(writers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    reader.join()
    assert not errors, errors
    assert ledger.total.calls == writers * per_writer
    assert other.total.calls == writers * per_writer
    assert f"| **total** | {writers * per_writer:,} |" in ledger.markdown()
