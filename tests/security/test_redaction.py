"""Redaction everywhere, in the right order: a secret that straddles a cut (tool result,
rendering, traceback, printed output, MCP result) never leaks in part; values under a
secret-looking name in a path or a key are not sent; map rows, batch bodies, checkpoints and
record files are redacted like prompts. The emulator plays the model."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from _canary import CANARY

import kimi_magic
from kimi_magic.core.constants import TOOL_RESULT_CHARS
from kimi_magic.emulator import Emulator
from kimi_magic.tools.registry import REGISTRY, tool_from_function

DEMO = str(Path(__file__).resolve().parents[1] / "mcp_demo_server.py")
# Shaped like an OpenAI key: caught by its format, not by being the configured token (which
# the HTTP client strips from every body as a last line of defence, so it would prove nothing
# for rows and files).
FAKE_KEY = "sk-" + "Zq7Wm2Xv9Lp4Rt6Yn1Bc8Hd3"
PIECE = 8  # no run of this many characters of a secret may be sent


def pieces(secret: str, text: str) -> list[str]:
    """Every PIECE-character run of `secret` that occurs in `text`."""
    runs = {secret[i : i + PIECE] for i in range(len(secret) - PIECE + 1)}
    return sorted(run for run in runs if run in text)


def sent(emulator: Emulator) -> str:
    """Every body the emulator received, as one text."""
    return json.dumps([request["json"] for request in emulator.requests], ensure_ascii=False)


def tool_messages(emulator: Emulator) -> str:
    """The text of every tool message the model was sent."""
    return "\n".join(
        str(message.get("content"))
        for request in emulator.requests
        for message in (request["json"] or {}).get("messages", [])
        if message.get("role") == "tool"
    )


def calls(*pairs: tuple[str, Any]) -> dict[str, Any]:
    return {"tool_calls": [{"name": n, "arguments": a} for n, a in pairs]}


@pytest.fixture
def long_report() -> Iterator[None]:
    """A registered tool whose result holds the token just where the result is cut."""

    def long_report() -> str:
        """A long report."""
        start = TOOL_RESULT_CHARS - 80  # the cut (limit minus its note) falls inside the token
        return "r" * start + CANARY + "s" * 2_000

    REGISTRY.add(tool_from_function(long_report))
    yield
    REGISTRY.remove("long_report")


# -- redact first, then cut ----------------------------------------------------------------------


@pytest.mark.usefixtures("long_report")
def test_a_token_straddling_the_tool_result_cut_leaks_no_piece(
    controls_shell: Any, emulator: Emulator
) -> None:
    emulator.script(calls(("long_report", {})), {"content": "Read it."})
    controls_shell.run_cell_magic("kimi", "--tools long_report", "Read the report")
    assert len(emulator.requests) == 2
    assert "[redacted" in tool_messages(emulator)
    assert pieces(CANARY, sent(emulator)) == []


def test_a_token_straddling_the_variable_rendering_cut_leaks_no_piece(
    controls_shell: Any, emulator: Emulator
) -> None:
    # A 2,000-token rendering keeps the first 7,920 characters of a string: the token spans it.
    controls_shell.user_ns["blob"] = "b" * 7_900 + CANARY + "c" * 5_000
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", "Summarise {blob}")
    text = sent(emulator)
    assert "[cut:" in text and "[redacted" in text
    assert pieces(CANARY, text) == []


def test_a_token_straddling_the_traceback_cut_leaks_no_piece(
    controls_shell: Any, emulator: Emulator
) -> None:
    # {Err[n]} keeps the last 3,000 characters of a traceback: the token spans the cut.
    controls_shell.user_ns["message"] = "m" * 100 + CANARY + "n" * 2_985
    failed = controls_shell.run_cell("raise ValueError(message)", store_history=True)
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic(
        "kimi", "", f"Why did this fail? {{Err[{failed.execution_count}]}}"
    )
    text = sent(emulator)
    assert "ValueError" in text and "[cut:" in text
    assert pieces(CANARY, text) == []


def test_a_token_straddling_the_printed_output_cut_leaks_no_piece(
    controls_shell: Any, emulator: Emulator
) -> None:
    # cell(N) gives the first 4,000 characters a cell printed: the token spans the cut.
    controls_shell.user_ns["printed"] = "p" * 3_980 + CANARY + "q" * 500
    cell = controls_shell.run_cell("print(printed)", store_history=True)
    emulator.script(calls(("cell", {"number": cell.execution_count})), {"content": "ok"})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "What did that cell print?")
    assert "It printed" in tool_messages(emulator)
    assert pieces(CANARY, tool_messages(emulator)) == []


def test_an_mcp_tool_result_straddling_the_cut_leaks_no_piece(
    controls_shell: Any, emulator: Emulator
) -> None:
    pytest.importorskip("mcp")
    controls_shell.run_line_magic("kimi", f"mcp add demo -- {sys.executable} {DEMO}")
    # The server's answer (an error text quoting the argument) holds the token at the cut; two
    # offsets 20 apart, so the cut falls well inside the token whatever the SDK's prefix.
    reasons = ["f" * (TOOL_RESULT_CHARS - 120 + shift) + CANARY + "g" * 500 for shift in (0, 20)]
    asked = [(name, {"reason": r}) for r in reasons for name in ("demo__fail", "fail")]
    emulator.script(calls(*asked))
    emulator.script({"content": "ok"})
    try:
        controls_shell.run_cell_magic("kimi", "--tools mcp:demo", "use the server")
    finally:
        controls_shell.run_line_magic("unload_ext", "kimi_magic")  # stops the server
        controls_shell.run_line_magic("load_ext", "kimi_magic")
    assert "failed on purpose" in tool_messages(emulator)
    assert pieces(CANARY, tool_messages(emulator)) == []


# -- secret-looking names in paths and keys -------------------------------------------------------


def test_a_secret_attribute_path_is_not_interpolated(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["creds"] = SimpleNamespace(user="analyst", db_password="Tr0ub4dor-3")
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", "Connect as {creds.user} with {creds.db_password}")
    text = sent(emulator)
    assert "analyst" in text and "[redacted: value of creds.db_password]" in text
    assert "Tr0ub4dor-3" not in text


def test_a_secret_key_path_is_not_interpolated(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.user_ns["config"] = {"region": "eu-west-1", "api_key": "pk-9f8e7d6c5b4a"}
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", 'Call {config["region"]} with {config["api_key"]}')
    text = sent(emulator)
    assert "eu-west-1" in text and "pk-9f8e7d6c5b4a" not in text


def test_a_nested_secret_key_in_a_dict_rendering_is_hidden(
    controls_shell: Any, emulator: Emulator
) -> None:
    # Numbers are no quoted `"password": "..."` a text pattern would catch: the key decides.
    controls_shell.user_ns["settings"] = {
        "db": {"host": "db.internal", "password": 31415926535},
        "servers": [{"name": "a", "auth_token": 27182818284}],
    }
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", "Check {settings}")
    text = sent(emulator)
    assert "db.internal" in text
    assert "31415926535" not in text and "27182818284" not in text


def test_a_dataframe_column_named_password_is_hidden(
    controls_shell: Any, emulator: Emulator
) -> None:
    pd = pytest.importorskip("pandas")
    controls_shell.user_ns["users"] = pd.DataFrame(
        {"login": ["ada", "bob"], "password": ["c0rrect-h0rse", "b4ttery-st4ple"]}
    )
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", "Describe {users}")
    text = sent(emulator)
    assert "ada" in text and "[redacted: secret column]" in text
    assert "c0rrect-h0rse" not in text and "b4ttery-st4ple" not in text


def test_dataframe_rows_hides_a_column_named_password(
    controls_shell: Any, emulator: Emulator
) -> None:
    pd = pytest.importorskip("pandas")
    controls_shell.user_ns["users"] = pd.DataFrame(
        {"login": ["ada", "bob"], "password": [31415926535, 27182818284]}
    )
    emulator.script(calls(("dataframe_rows", {"name": "users"})), {"content": "ok"})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Show me the users")
    assert "ada" in tool_messages(emulator) and "[redacted: secret column]" in tool_messages(
        emulator
    )
    assert "31415926535" not in sent(emulator) and "27182818284" not in sent(emulator)


def test_describe_variable_of_a_secret_key_path_returns_no_value(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["config"] = {"region": "eu-west-1", "api_key": "pk-9f8e7d6c5b4a"}
    emulator.script(calls(("describe_variable", {"name": 'config["api_key"]'})), {"content": "ok"})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "What is my key?")
    assert "[redacted" in tool_messages(emulator)
    assert "pk-9f8e7d6c5b4a" not in sent(emulator)


def test_describe_variable_of_a_dict_hides_its_nested_secret_keys(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["settings"] = {"db": {"host": "db.internal", "password": 31415926535}}
    emulator.script(calls(("describe_variable", {"name": "settings"})), {"content": "ok"})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Describe my settings")
    assert "db.internal" in tool_messages(emulator)
    assert "31415926535" not in sent(emulator)


@dataclass
class Account:
    user: str
    pin_secret: int


def test_a_secret_dataclass_field_path_is_not_interpolated(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["account"] = Account("ada", 98765432)
    emulator.script({"content": "ok"})
    controls_shell.run_cell_magic("kimi", "", "Log in as {account.user} with {account.pin_secret}")
    text = sent(emulator)
    assert "ada" in text and "98765432" not in text


def test_describe_variable_of_a_dataclass_hides_a_numeric_secret_field(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.user_ns["account"] = Account("ada", 98765432)
    emulator.script(calls(("describe_variable", {"name": "account"})), {"content": "ok"})
    controls_shell.run_cell_magic("kimi", "--tools notebook", "Describe my account")
    assert "ada" in tool_messages(emulator)
    assert "98765432" not in sent(emulator)


# -- map rows, batch bodies, checkpoints, record files ---------------------------------------------


def test_map_rows_holding_a_key_are_sent_redacted(
    emulator: Emulator, emulator_connection: dict[str, Any]
) -> None:
    rows = [f"customer pasted {FAKE_KEY} in a ticket", "a plain row"]
    out = kimi_magic.map(rows, "Summarise: {item}", checkpoint=False, **emulator_connection)
    assert not out.errors and len(emulator.requests) == 2
    text = sent(emulator)
    assert "customer pasted" in text and "[redacted" in text
    assert pieces(FAKE_KEY, text) == []


def test_map_checkpoint_and_record_file_hold_no_key(
    emulator: Emulator, emulator_connection: dict[str, Any], tmp_path: Path
) -> None:
    checkpoint, record = tmp_path / "job.jsonl", tmp_path / "answers.jsonl"
    # The model echoes a key it saw (the row held it): nothing written keeps it.
    emulator.script({"content": f"The key is {FAKE_KEY}."})
    rows = [f"row with {FAKE_KEY}"]
    kimi_magic.map(
        rows, "Echo: {item}", checkpoint=checkpoint, record=str(record), **emulator_connection
    )
    assert checkpoint.is_file() and record.is_file()
    assert pieces(FAKE_KEY, checkpoint.read_text(encoding="utf-8")) == []
    assert pieces(FAKE_KEY, record.read_text(encoding="utf-8")) == []


def test_batch_bodies_hold_no_key(emulator: Emulator, emulator_connection: dict[str, Any]) -> None:
    rows = [f"ticket {i}: {FAKE_KEY}" for i in range(3)]
    out = kimi_magic.map(
        rows, "Summarise: {item}", batch=True, checkpoint=False, **emulator_connection
    )
    assert len(out) == 3
    submitted = [r for r in emulator.requests if r["query"].get("queueRequest") == "true"]
    assert submitted and "ticket 0" in sent(emulator)
    assert pieces(FAKE_KEY, sent(emulator)) == []


def test_the_record_file_of_a_normal_cell_holds_no_key(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    record = tmp_path / "lesson.jsonl"
    controls_shell.run_line_magic("config", f"KimiMagics.record = {str(record)!r}")
    emulator.script({"content": f"Your key {FAKE_KEY} works."})
    controls_shell.run_cell_magic("kimi", "--new", f"Is {FAKE_KEY} a valid key?")
    assert record.is_file()
    assert pieces(FAKE_KEY, record.read_text(encoding="utf-8")) == []
    assert pieces(FAKE_KEY, sent(emulator)) == []
