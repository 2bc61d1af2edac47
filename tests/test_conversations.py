"""Conversations: named chats stay apart, the affinity header is stable per conversation,
`%kimi history` / `reset` / `save` / `load` (images included), and trimming to the context
window keeps the newest turns and says so."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest

from kimi_magic.api.wire import message_json
from kimi_magic.core.answer import Answer
from kimi_magic.core.conversation import Conversation
from kimi_magic.core.messages import Message
from kimi_magic.emulator import Emulator
from kimi_magic.session.context_window import fit_to_context

# A 1x1 PNG.
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)
DATA_URL = "data:image/png;base64," + base64.b64encode(PNG).decode("ascii")


def magics(shell: Any) -> Any:
    return shell.magics_manager.registry["KimiMagics"]


def users(body: dict[str, Any]) -> list[Any]:
    return [m["content"] for m in body["messages"] if m["role"] == "user"]


def test_named_chats_stay_apart(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell("%kimi --chat stats what is a p-value?")
    controls_shell.run_cell("%kimi --chat plots which chart for shares?")
    controls_shell.run_cell("%kimi --chat stats and a confidence interval?")
    controls_shell.run_cell("%kimi --chat plots and for trends?")
    bodies = [r["json"] for r in emulator.requests]
    assert users(bodies[2]) == ["what is a p-value?", "and a confidence interval?"]
    assert users(bodies[3]) == ["which chart for shares?", "and for trends?"]
    assert set(magics(controls_shell).session.conversations) == {"stats", "plots"}


def test_affinity_header_is_stable_per_conversation(
    controls_shell: Any, emulator: Emulator
) -> None:
    for line in ("--chat a one", "--chat b one", "--chat a two", "--chat b two", "--chat a 3"):
        controls_shell.run_cell(f"%kimi {line}")
    ids = [r["headers"]["x-session-affinity"] for r in emulator.requests]
    assert ids[0] == ids[2] == ids[4] and ids[1] == ids[3]
    assert ids[0] != ids[1] and len(ids[0]) >= 16
    controls_shell.run_cell("%kimi reset a")
    controls_shell.run_cell("%kimi --chat a fresh start")
    assert emulator.requests[-1]["headers"]["x-session-affinity"] not in (ids[0], ids[1])


def test_the_affinity_header_makes_the_prefix_cache_hit(
    controls_shell: Any, emulator: Emulator
) -> None:
    controls_shell.run_cell("%kimi " + "a long question about tables " * 20)
    controls_shell.run_cell("%kimi follow up")
    assert magics(controls_shell).session.conversation().answers[-1].usage.cached_tokens > 0


def test_history_shows_each_turn_with_its_usage(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    emulator.script(
        {"content": "Forty-two.", "usage": {"prompt_tokens": 120, "completion_tokens": 8}},
        {
            "content": "Eighty-four.",
            "usage": {
                "prompt_tokens": 150,
                "completion_tokens": 9,
                "prompt_tokens_details": {"cached_tokens": 100},
            },
        },
    )
    controls_shell.run_cell("%kimi the answer?")
    controls_shell.run_cell("%kimi doubled?")
    capsys.readouterr()
    controls_shell.run_cell("%kimi history")
    out = capsys.readouterr().out
    # A terminal gets the text without markup (no raw ** or <sub> tags).
    assert "Conversation `default`: 2 turns" in out and "**" not in out and "<sub>" not in out
    assert (
        out.index("You: the answer?")
        < out.index("Kimi: Forty-two.")
        < out.index("You: doubled?")
        < out.index("Kimi: Eighty-four.")
    )
    assert "in 120 · out 8 · $0.0001" in out
    assert "in 150 (cached 100) · out 9" in out


def test_reset_all_forgets_every_conversation(controls_shell: Any, emulator: Emulator) -> None:
    controls_shell.run_cell("%kimi --chat x hi")
    controls_shell.run_cell("%kimi hi")
    controls_shell.run_cell("%kimi reset --all")
    assert magics(controls_shell).session.conversations == {}


def test_save_to_a_missing_folder_is_one_message(controls_shell: Any) -> None:
    result = controls_shell.run_cell("%kimi save no/such/folder/chats.json")
    message = str(result.error_in_exec)
    assert type(result.error_in_exec).__name__ == "UsageError"
    assert message.startswith("Could not write no/such/folder/chats.json")


def test_save_and_load_round_trip_with_an_image(
    controls_shell: Any, emulator: Emulator, tmp_path: Path
) -> None:
    controls_shell.user_ns["png"] = DATA_URL
    emulator.script({"content": "A single pixel.", "reasoning": "Tiny image."})
    controls_shell.run_cell("%kimi --chat pics --image png what is this?")
    sent = emulator.requests[-1]["json"]["messages"][-1]["content"]
    assert any(part.get("type") == "image_url" for part in sent), sent
    controls_shell.run_cell("%kimi --chat notes remember 7")
    m = magics(controls_shell)
    before = {
        name: (c.messages, c.session_id, [a.usage for a in c.answers])
        for name, c in m.session.conversations.items()
    }

    assert controls_shell.run_cell("%kimi save chats.json").error_in_exec is None
    data = json.loads((tmp_path / "chats.json").read_text(encoding="utf-8"))
    assert DATA_URL in json.dumps(data)  # the image itself, not a reference to it
    controls_shell.run_cell("%kimi reset --all")
    assert m.session.conversations == {}
    assert controls_shell.run_cell("%kimi load chats.json").error_in_exec is None
    after = {
        name: (c.messages, c.session_id, [a.usage for a in c.answers])
        for name, c in m.session.conversations.items()
    }
    assert after == before
    assert m.session.conversation("pics").answers[0].reasoning == "Tiny image."

    controls_shell.run_cell("%kimi --chat pics and its colour?")  # the loaded chat continues
    request = emulator.requests[-1]
    assert request["json"]["messages"][:2] == [message_json(m) for m in before["pics"][0]]
    assert request["headers"]["x-session-affinity"] == before["pics"][1]


def test_load_refuses_a_file_that_is_not_a_conversation(
    controls_shell: Any, tmp_path: Path
) -> None:
    (tmp_path / "other.json").write_text('{"cells": []}', encoding="utf-8")
    result = controls_shell.run_cell("%kimi load other.json")
    assert "is not a kimi_magic conversation file" in str(result.error_in_exec)
    result = controls_shell.run_cell("%kimi load missing.json")
    assert "Could not read missing.json" in str(result.error_in_exec)


def _turns(count: int, size: int) -> list[Message]:
    messages: list[Message] = []
    for i in range(count):
        messages.append(Message.user(f"q{i} " + "x" * size))
        messages.append(Message.assistant(f"a{i} " + "y" * size))
    return messages


def test_fit_to_context_drops_the_oldest_whole_turns() -> None:
    messages = [Message.system("sys"), *_turns(5, 400), Message.user("newest")]
    trimmed = fit_to_context(messages, budget_tokens=450)
    kept = [m.text[:2] for m in trimmed.messages]
    assert kept == ["sy", "q3", "a3", "q4", "a4", "ne"]
    assert trimmed.dropped_turns == 3 and trimmed.dropped_tokens > 0
    assert "3 oldest turns" in trimmed.note and "newest turns were sent" in trimmed.note
    untouched = fit_to_context(messages, budget_tokens=10_000)
    assert untouched.messages == messages and untouched.note == ""


def test_fit_to_context_always_keeps_the_new_turn() -> None:
    huge = [Message.user("z" * 10_000)]
    assert fit_to_context(huge, budget_tokens=10).messages == huge


def test_trimming_in_the_magic_keeps_the_newest_and_says_so(
    controls_shell: Any, emulator: Emulator, capsys: pytest.CaptureFixture[str]
) -> None:
    conversation = magics(controls_shell).session.conversation()
    turns = _turns(6, 800)
    for user, reply in zip(turns[::2], turns[1::2], strict=True):
        conversation.record(user, Answer(text=reply.text))
    controls_shell.run_line_magic("config", "KimiMagics.context_window = 2000")
    controls_shell.run_line_magic("config", "KimiMagics.max_completion_tokens = 500")
    capsys.readouterr()
    controls_shell.run_cell("%kimi the newest question")
    out = capsys.readouterr().out
    sent = emulator.requests[-1]["json"]["messages"]
    assert sent[-1]["content"] == "the newest question"
    assert [m["content"][:2] for m in sent[:-1]] == ["q3", "a3", "q4", "a4", "q5", "a5"]
    assert "3 oldest turns of this conversation" in out and "were left out" in out
    assert len(conversation.messages) == 14  # history itself keeps everything


def test_conversation_dump_keeps_content_parts() -> None:
    from kimi_magic.api.save_file import dump, undump

    chat = Conversation(name="v")
    chat.record(Message.user("see", (DATA_URL,)), Answer(text="a dot"))
    data = json.loads(json.dumps(dump([chat])))
    assert data["conversations"][0]["exchanges"][0]["user"]["content"] == [
        {"type": "text", "text": "see"},
        {"type": "image_url", "image_url": {"url": DATA_URL}},
    ]
    (back,) = undump(data)
    assert back.messages == chat.messages and back.session_id == chat.session_id
