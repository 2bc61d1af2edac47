"""Cell errors: captured per cell alongside any custom exception handler; `%kimi explain` and
`%kimi fix` on real raised exceptions; `{In[n]}`, `{Out[n]}` and `{Err[n]}` references."""

from __future__ import annotations

from typing import Any

import pytest
from IPython.core.error import UsageError

from kimi_magic.emulator import Emulator

FAILING_CELL = """\
prices = {"apple": 1.5, "pear": 2.0}
def unit_price(name, count):
    total = prices[name] * count
    return total / (count - count)
unit_price("apple", 4)
"""


pytestmark = pytest.mark.usefixtures("schema_checked")


def last_text(emulator: Emulator) -> str:
    content = emulator.requests[-1]["json"]["messages"][-1]["content"]
    return content if isinstance(content, str) else content[0]["text"]


def test_explain_sends_source_traceback_failing_line_and_its_values(
    kimi_shell: Any, emulator: Emulator, validate_request: Any
) -> None:
    failing = kimi_shell.execution_count
    result = kimi_shell.run_cell(FAILING_CELL, store_history=True)
    assert isinstance(result.error_in_exec, ZeroDivisionError)
    emulator.script({"content": "You divide by count - count, which is zero."})
    result = kimi_shell.run_cell("%kimi explain", store_history=True)
    assert result.error_in_exec is None
    text = last_text(emulator)
    assert text.startswith("Explain this error from my notebook")
    assert f"Cell [{failing}]:\n```python\n{FAILING_CELL.rstrip()}\n```" in text
    assert "ZeroDivisionError: float division by zero" in text
    assert "The failing line: `return total / (count - count)`" in text
    assert "### total\n6.0" in text and "### count\n4" in text
    assert "run_code" not in text  # IPython's machinery frames are not the user's problem
    validate_request(emulator.requests[-1]["json"])


def test_fix_asks_for_code_and_puts_it_in_a_new_cell(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("values = [1, 2]\nvalues[5]", store_history=True)
    emulator.script(
        {"content": "Index 5 is past the end.\n\n```python\nvalues = [1, 2]\nvalues[-1]\n```\n"}
    )
    kimi_shell.run_cell("%kimi fix", store_history=True)
    text = last_text(emulator)
    assert text.startswith("Fix this error from my notebook")
    assert "IndexError: list index out of range" in text
    assert kimi_shell.rl_next_input == "values = [1, 2]\nvalues[-1]"


def test_explain_a_named_cell_and_the_error_when_there_is_none(
    kimi_shell: Any, emulator: Emulator
) -> None:
    result = kimi_shell.run_cell("%kimi explain")
    assert isinstance(result.error_in_exec, UsageError)
    assert "no cell has raised an exception" in str(result.error_in_exec)
    first = kimi_shell.execution_count
    kimi_shell.run_cell("int('x')", store_history=True)
    kimi_shell.run_cell("[][0]", store_history=True)
    kimi_shell.run_cell(f"%kimi explain {first}", store_history=True)
    assert "ValueError: invalid literal for int()" in last_text(emulator)
    result = kimi_shell.run_cell("%kimi explain 999")
    assert "cell 999 raised no remembered error" in str(result.error_in_exec)
    assert f"cells with errors: {first}, {first + 1}" in str(result.error_in_exec)


def test_a_custom_exception_handler_keeps_working(kimi_shell: Any, emulator: Emulator) -> None:
    seen: list[str] = []

    def handler(
        shell: Any, etype: type, value: BaseException, tb: Any, tb_offset: int | None = None
    ) -> None:
        seen.append(f"{etype.__name__}: {value}")

    kimi_shell.set_custom_exc((KeyError,), handler)
    try:
        kimi_shell.run_cell("{}['missing']", store_history=True)
    finally:
        kimi_shell.set_custom_exc((), None)
    assert seen == ["KeyError: 'missing'"]
    kimi_shell.run_cell("%kimi explain", store_history=True)
    assert "KeyError: 'missing'" in last_text(emulator)


def test_syntax_errors_are_captured_too(kimi_shell: Any, emulator: Emulator) -> None:
    kimi_shell.run_cell("def broken(:\n    pass", store_history=True)
    kimi_shell.run_cell("%kimi explain", store_history=True)
    assert "SyntaxError" in last_text(emulator)


def test_in_out_and_err_references(kimi_shell: Any, emulator: Emulator) -> None:
    source_cell = kimi_shell.execution_count
    kimi_shell.run_cell("squares = [n * n for n in range(4)]\nsquares", store_history=True)
    error_cell = kimi_shell.execution_count
    kimi_shell.run_cell("squares['a']", store_history=True)
    kimi_shell.run_cell(
        f"%%kimi\nCell {{In[{source_cell}]}} gave {{Out[{source_cell}]}}, "
        f"then: {{Err[{error_cell}]}}",
        store_history=True,
    )
    text = last_text(emulator)
    assert text.startswith(
        f"Cell `In[{source_cell}]` (shown below) gave "
        f"`Out[{source_cell}]` (shown below), then: `Err[{error_cell}]`"
    )
    assert "```python\nsquares = [n * n for n in range(4)]\nsquares\n```" in text
    assert "list with 4 items:\n[\n  0,\n  1,\n  4,\n  9\n]" in text
    assert f"Cell {error_cell} raised TypeError: list indices must be integers" in text
    result = kimi_shell.run_cell("%kimi What about {Err[1234]}?")
    assert "Err[1234]" in str(result.error_in_exec)
    assert "raised no remembered error" in str(result.error_in_exec)


@pytest.mark.parametrize("command", ["explain", "fix"])
def test_commands_are_registered_with_help(kimi_shell: Any, command: str) -> None:
    from kimi_magic.magic.commands import COMMANDS

    assert command in COMMANDS and "error" in COMMANDS[command].help


def test_a_magics_own_usage_error_is_not_an_error_to_explain(
    kimi_shell: Any, emulator: Emulator
) -> None:
    kimi_shell.run_cell("1 / 0", store_history=True)
    kimi_shell.run_cell("%kimi {no_such_name}", store_history=True)  # a UsageError
    kimi_shell.run_cell("%kimi explain", store_history=True)
    assert "ZeroDivisionError" in last_text(emulator)


CAUGHT_CELL = """\
temperatures = ["21.5", "23.0"]
try:
    average = sum(temperatures) / len(temperatures)
except TypeError as error:
    student_error = error
"""


def test_explain_a_caught_exception_kept_in_a_variable(kimi_shell: Any, emulator: Emulator) -> None:
    """A cell that catches its error (so papermill runs on) can still have it explained."""
    count = kimi_shell.execution_count
    assert kimi_shell.run_cell(CAUGHT_CELL, store_history=True).error_in_exec is None
    emulator.script({"content": "The numbers are text: convert them first."})
    assert kimi_shell.run_cell("%kimi explain student_error", store_history=True).success
    text = last_text(emulator)
    assert f"Cell [{count}]:\n```python\n{CAUGHT_CELL.rstrip()}\n```" in text
    assert "TypeError: unsupported operand type(s) for +: 'int' and 'str'" in text
    assert "The failing line: `average = sum(temperatures) / len(temperatures)`" in text
    assert "### temperatures" in text


def test_explain_a_name_that_holds_no_exception_says_so(kimi_shell: Any) -> None:
    kimi_shell.run_cell("not_an_error = 3")
    with pytest.raises(UsageError, match="not_an_error is of type int, not an exception"):
        kimi_shell.run_line_magic("kimi", "explain not_an_error")
