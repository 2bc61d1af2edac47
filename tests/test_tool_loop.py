"""The tool loop end to end over loopback: rounds, parallel calls, errors, caps, images,
history; every request checked against the published schema and the tool-call protocol."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kimi_magic.emulator import Emulator
from kimi_magic.session.session import Session
from kimi_magic.session.turn import Question
from kimi_magic.tools.approval import approver_for
from kimi_magic.tools.loop import ToolLoop, tool_map
from kimi_magic.tools.python_tool import python_tool
from kimi_magic.tools.registry import tool_from_function
from kimi_magic.tools.results import ToolOutput

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


@pytest.fixture
def session(
    emulator: Emulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Session]:
    """A session aimed at the emulator, with no config files or KIMI_MAGIC_* settings."""
    import os

    for name in list(os.environ):
        if name.startswith("KIMI_MAGIC_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    monkeypatch.chdir(tmp_path)
    connection = {
        "base_url": emulator.base_url,
        "account_id": emulator.account_id,
        "api_token": emulator.token,
    }
    made = Session(connection=connection)
    yield made
    made.close()


def add(a: int, b: int) -> int:
    """Add two integers."""
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise ValueError(f"cannot do that: {reason}")


def loop_for(session: Session, text: str, *functions: Any, **options: Any) -> ToolLoop:
    turn = session.prepare(Question(text))
    tools = tool_map([tool_from_function(f) for f in functions])
    return ToolLoop(session, turn, tools, **options)


def calls(*pairs: tuple[str, Any], **options: Any) -> dict[str, Any]:
    return {"tool_calls": [{"name": n, "arguments": a} for n, a in pairs], **options}


def sent(emulator: Emulator, index: int) -> list[dict[str, Any]]:
    return emulator.requests[index]["json"]["messages"]


@pytest.mark.usefixtures("schema_checked")
def test_two_rounds_with_parallel_calls(emulator: Emulator, session: Session) -> None:
    emulator.script(
        calls(
            ("add", {"a": 1, "b": 2}),
            ("add", '{"a": 3, "b": 4}'),
            reasoning="Add both.",
            chunk_chars=3,
        ),
        {"content": "The sums are {{tool_result:0}} and {{tool_result:1}}."},
    )
    loop = loop_for(session, "Add 1+2 and 3+4", add)
    answer = loop.run()
    assert answer.text == "The sums are 3 and 7."
    first, second = emulator.requests[0]["json"], emulator.requests[1]["json"]
    assert first["tools"] == [tool_from_function(add).definition()]
    assistant, *results = second["messages"][-3:]
    assert assistant["tool_calls"] == [
        {
            "id": "functions.add:0",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 1, "b": 2}'},
        },
        {
            "id": "functions.add:1",
            "type": "function",
            "function": {"name": "add", "arguments": '{"a": 3, "b": 4}'},
        },
    ]
    # K2.6 wants the reasoning of a tool-call turn back, under both names
    assert assistant["reasoning_content"] == assistant["reasoning"] == "Add both."
    assert results == [
        {"role": "tool", "content": "3", "tool_call_id": "functions.add:0"},
        {"role": "tool", "content": "7", "tool_call_id": "functions.add:1"},
    ]
    rounds = [r.usage for r in loop.rounds]
    assert answer.usage == rounds[0] + rounds[1] and rounds[0].completion_tokens > 0
    assert session.ledger.total.cost == pytest.approx(answer.usage.cost)


@pytest.mark.usefixtures("schema_checked")
def test_a_follow_up_question_carries_the_tool_rounds(emulator: Emulator, session: Session) -> None:
    emulator.script(calls(("add", {"a": 2, "b": 2})), {"content": "It is 4."}, {"content": "Yes."})
    loop_for(session, "2+2?", add).run()
    session.ask("Are you sure?")
    roles = [m["role"] for m in sent(emulator, 2)]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert sent(emulator, 2)[3]["content"] == "It is 4."


@pytest.mark.usefixtures("schema_checked")
def test_both_id_forms_and_object_arguments(emulator: Emulator, session: Session) -> None:
    emulator.script(
        {
            "tool_calls": [
                {
                    "id": "call_x1",
                    "name": "add",
                    "arguments": {"a": 5, "b": 6},
                    "arguments_object": True,
                },
                {"name": "add", "arguments": {"a": 1, "b": 1}},
            ]
        },
        {"content": "{{tool_results}}"},
    )
    assert loop_for(session, "sums", add).run().text == "11\n2"
    ids = [m["tool_call_id"] for m in sent(emulator, 1) if m["role"] == "tool"]
    assert ids == ["call_x1", "functions.add:1"]
    arguments = sent(emulator, 1)[-3]["tool_calls"][0]["function"]["arguments"]
    assert json.loads(arguments) == {"a": 5, "b": 6}  # sent back as a JSON string


@pytest.mark.usefixtures("schema_checked")
def test_a_raising_tool_returns_its_error_to_the_model(
    emulator: Emulator, session: Session
) -> None:
    emulator.script(
        calls(("explode", {"reason": "no fuel"})), {"content": "Saw: {{tool_result:0}}"}
    )
    answer = loop_for(session, "try", explode).run()
    assert answer.text == "Saw: The tool explode raised ValueError: cannot do that: no fuel"


@pytest.mark.usefixtures("schema_checked")
def test_the_round_cap_stops_with_a_note_and_the_history_stays_valid(
    emulator: Emulator, session: Session
) -> None:
    emulator.script(*[calls(("add", {"a": i, "b": 1})) for i in range(3)], {"content": "ok"})
    loop = loop_for(session, "loop forever", add, max_rounds=2)
    loop.run()
    assert len(emulator.requests) == 2
    assert loop.note.startswith("Stopped after 2 rounds (the cap, tool_max_rounds): the model ")
    assert "still wanted to call add" in loop.note
    session.ask("go on")  # the emulator rejects a history that breaks the protocol
    assert emulator.requests[-1]["json"]["messages"][-1]["content"] == "go on"


def test_the_cost_cap_stops_between_rounds(emulator: Emulator, session: Session) -> None:
    emulator.script(calls(("add", {"a": 1, "b": 1})), calls(("add", {"a": 1, "b": 1})))
    loop = loop_for(session, "spend", add, max_cost=0.0000001)
    loop.run()
    assert len(emulator.requests) == 1
    assert "past this turn's cost cap of $0.0000" in loop.note


@pytest.mark.usefixtures("schema_checked")
def test_tool_images_follow_the_tool_messages_as_a_user_turn(
    emulator: Emulator, session: Session
) -> None:
    def picture() -> ToolOutput:
        """A picture."""
        return ToolOutput("drawn", images=(PNG_1PX,))

    emulator.script(calls(("picture", {})), {"content": "images={{images}}"})
    assert loop_for(session, "draw", picture).run().text == "images=1"
    tool_message, user = sent(emulator, 1)[-2:]
    assert tool_message["content"] == "drawn\n[picture image 1: 1x1 px, 68 bytes PNG]"
    assert user["role"] == "user"
    assert user["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")


@pytest.mark.usefixtures("schema_checked")
def test_a_run_python_figure_reaches_the_server_as_an_image(
    emulator: Emulator, session: Session
) -> None:
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    namespace: dict[str, Any] = {}
    code = "import matplotlib.pyplot as plt\nplt.plot([3, 1, 2])\nlen([1, 2])"
    emulator.script(calls(("run_python", {"code": code})), {"content": "saw {{images}} image"})
    turn = session.prepare(Question("plot"))
    tools = tool_map([python_tool(namespace, approver_for("auto"))])
    loop = ToolLoop(session, turn, tools)
    assert loop.run().text == "saw 1 image"
    assert loop.code == [code] and "plt" in namespace
    tool_message = sent(emulator, 1)[-2]
    assert "Value of the last expression:\n2" in tool_message["content"]
    assert "1 figure(s) drawn" in tool_message["content"]


def test_denied_code_tells_the_model(emulator: Emulator, session: Session) -> None:
    namespace: dict[str, Any] = {}
    emulator.script(calls(("run_python", {"code": "x = 1"})), {"content": "{{tool_result:0}}"})
    turn = session.prepare(Question("run"))
    loop = ToolLoop(session, turn, tool_map([python_tool(namespace, approver_for("deny"))]))
    assert loop.run().text.startswith('Not run: approve is set to "deny"')
    assert "x" not in namespace and loop.code == []


def test_the_token_never_reaches_the_model_through_a_tool(
    emulator: Emulator, session: Session
) -> None:
    def leak() -> str:
        """Reads the environment."""
        return f"token={emulator.token}"

    emulator.script(calls(("leak", {})), {"content": "done"})
    loop_for(session, "leak", leak).run()
    assert sent(emulator, 1)[-1]["content"] == "token=[redacted: the API token]"


def test_a_tool_result_is_redacted_like_a_prompt(emulator: Emulator, session: Session) -> None:
    key = "sk-proj-" + "Q7v" * 12  # a well-known key format, whatever the variable's name

    def read_config() -> str:
        """Reads a config file."""
        return f"openai = {key}\nregion = eu"

    emulator.script(calls(("read_config", {})), {"content": "done"})
    loop_for(session, "read_config", read_config).run()
    content = sent(emulator, 1)[-1]["content"]
    assert key not in content and "region = eu" in content and "[redacted" in content


@pytest.mark.usefixtures("schema_checked")
def test_tool_rounds_survive_save_and_load(
    emulator: Emulator, session: Session, tmp_path: Path
) -> None:
    from kimi_magic.api.save_file import load, save

    emulator.script(
        calls(("add", {"a": 1, "b": 2}), reasoning="Use the tool."),
        {"content": "3"},
        {"content": "ok"},
    )
    loop_for(session, "1+2?", add).run()
    path = tmp_path / "chat.json"
    save(path, [session.conversation()])
    (loaded,) = load(path)
    assert loaded.messages == session.conversation().messages
    session.conversations["default"] = loaded
    session.ask("and now?")
    assistant = emulator.requests[-1]["json"]["messages"][1]
    assert assistant["tool_calls"][0]["function"]["name"] == "add"
    assert assistant["reasoning_content"] == "Use the tool."


def test_the_token_never_reaches_the_tool_blocks_either(
    emulator: Emulator, session: Session
) -> None:
    shown: list[str] = []

    class Observer:
        def tool_started(self, call: Any) -> None:
            shown.append(call.arguments)

        def tool_finished(self, result: Any) -> None:
            shown.append(result.text)

    def leak() -> str:
        """Reads the environment."""
        return f"token={emulator.token}"

    emulator.script(calls(("leak", {})), {"content": "done"})
    loop_for(session, "leak", leak, observer=Observer()).run()
    assert shown == ["{}", "token=[redacted: the API token]"]


@pytest.mark.usefixtures("schema_checked")
@pytest.mark.parametrize(
    ("choice", "sent"),
    [("required", "required"), ("add", {"type": "function", "function": {"name": "add"}})],
)
def test_tool_choice_applies_to_the_first_round_only(
    emulator: Emulator, session: Session, choice: str, sent: Any
) -> None:
    emulator.script(calls(("add", {"a": 1, "b": 1})), {"content": "2"})
    loop_for(session, "1+1", add, tool_choice=choice).run()
    assert emulator.requests[0]["json"]["tool_choice"] == sent
    assert "tool_choice" not in emulator.requests[1]["json"]


def test_an_unknown_tool_choice_is_refused(session: Session) -> None:
    from kimi_magic.tools.registry import ToolError

    with pytest.raises(ToolError, match="neither auto, none, required nor an offered tool"):
        loop_for(session, "x", add, tool_choice="sub").start()


def test_the_session_cap_counts_the_rounds_of_the_turn_in_flight(
    emulator: Emulator, session: Session
) -> None:
    session.configure(max_cost=0.0000001)
    emulator.script(calls(("add", {"a": 1, "b": 1})), calls(("add", {"a": 1, "b": 1})))
    loop = loop_for(session, "spend", add)
    loop.run()
    assert len(emulator.requests) == 1
    assert loop.note.startswith("Stopped: the session spending cap of $0.0000 is reached")
