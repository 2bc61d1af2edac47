"""MCP servers: a real stdio server written with the SDK (tests/mcp_demo_server.py), its tools
offered to the model, text and image results, and failures as one clear message."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from waiting import accepting, wait_until

from kimi_magic.core.types import ToolCall
from kimi_magic.tools.mcp_client import MCPError, MCPServers, ServerSpec
from kimi_magic.tools.runner import run_one

pytest.importorskip("mcp")
DEMO = str(Path(__file__).with_name("mcp_demo_server.py"))


@pytest.fixture
def servers() -> Iterator[MCPServers]:
    made = MCPServers({"demo": ServerSpec("demo", sys.executable, (DEMO,))})
    yield made
    made.close()


def test_a_server_starts_on_first_use_and_lists_its_tools(servers: MCPServers) -> None:
    assert not servers.running("demo")
    tools = {t.name: t for t in servers.tools("demo")}
    assert servers.running("demo")
    assert sorted(tools) == [
        "demo__add",
        "demo__append_then_die",
        "demo__fail",
        "demo__red_square",
    ]  # by server
    add = tools["demo__add"].definition()["function"]
    assert add["description"] == "Add two integers."
    assert add["parameters"]["required"] == ["a", "b"]
    assert tools["demo__add"].source == "mcp:demo"


def test_text_image_and_error_results(servers: MCPServers) -> None:
    tools = {t.name: t for t in servers.tools("demo")}
    added = run_one(ToolCall("1", "demo__add", json.dumps({"a": 2, "b": 40})), tools)
    assert added.text == "42" and not added.error
    square = run_one(ToolCall("2", "demo__red_square", "{}"), tools)
    assert len(square.images) == 1 and square.images[0].startswith("data:image/png;base64,")
    assert square.text == "[demo__red_square image 1: 2x2 px, 73 bytes PNG]"
    failed = run_one(ToolCall("3", "demo__fail", json.dumps({"reason": "test"})), tools)
    assert failed.error and "failed on purpose: test" in failed.text


def test_a_server_that_cannot_start_is_one_clear_message() -> None:
    servers = MCPServers({"broken": ServerSpec("broken", sys.executable, (DEMO, "--crash"))})
    try:
        with pytest.raises(MCPError) as caught:
            servers.tools("broken")
        message = str(caught.value)
        assert message.startswith("The MCP server 'broken' could not start (")
        assert "Traceback" not in message and "\n" not in message
    finally:
        servers.close()


def test_a_missing_command_is_one_clear_message() -> None:
    servers = MCPServers({"nope": ServerSpec("nope", "/no/such/command")})
    try:
        with pytest.raises(MCPError, match="The MCP server 'nope' could not start"):
            servers.tools("nope")
    finally:
        servers.close()


def test_an_unknown_server_names_the_known_ones(servers: MCPServers) -> None:
    with pytest.raises(MCPError, match=r"no MCP server called 'dmo' \(known: demo\)"):
        servers.tools("dmo")


def test_a_server_that_died_is_said_and_restarted_on_next_use(servers: MCPServers) -> None:
    tools = {t.name: t for t in servers.tools("demo")}
    servers.stop("demo")  # as if it had exited
    result = run_one(ToolCall("1", "demo__add", '{"a": 1, "b": 1}'), tools)
    assert result.text == "2"  # started again on use
    assert servers.running("demo")


def test_close_stops_every_server(servers: MCPServers) -> None:
    servers.tools("demo")
    process_count = _children()
    servers.close()
    assert not servers.running("demo")
    assert _children() < process_count


def _children() -> int:
    import os

    me = os.getpid()
    count = 0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            count += int(stat[1]) == me
    return count


def test_servers_from_the_config_files(tmp_path: Path) -> None:
    from kimi_magic.tools.mcp_config import configured_servers

    (tmp_path / "pyproject.toml").write_text(
        '[tool.kimi_magic.mcp_servers.demo]\ncommand = "python"\nargs = ["server.py"]\n'
        'env = { LEVEL = "warn" }\n'
        '[tool.kimi_magic.mcp_servers.web]\nurl = "http://127.0.0.1:9/mcp"\n'
        '[tool.kimi_magic.mcp_servers.bad]\nargs = ["x"]\n'
    )
    user = tmp_path / "user.toml"
    user.write_text('[mcp_servers.demo]\ncommand = "other"\n[mcp_servers.mine]\ncommand = "m"\n')
    found, notes, ignored = configured_servers(cwd=tmp_path, user_config=user)
    # Untrusted, the project file starts nothing: the user's own servers apply.
    assert found["demo"].describe() == "other" and sorted(ignored) == ["demo", "web"]
    from kimi_magic import trust

    trust(tmp_path / "pyproject.toml", user_config=user)
    found, notes, ignored = configured_servers(cwd=tmp_path, user_config=user)
    assert ignored == {}
    assert found["demo"].describe() == "python server.py"  # the project file wins
    assert found["demo"].env == {"LEVEL": "warn"}
    assert found["web"].url == "http://127.0.0.1:9/mcp" and found["mine"].command == "m"
    assert notes == [
        f"{tmp_path / 'pyproject.toml'} [tool.kimi_magic]: mcp_servers.bad needs either command "
        "(with args, env) for a local server or url for one over HTTP, not both or neither."
    ]


@pytest.mark.parametrize(
    ("text", "command", "args", "url"),
    [
        ("files -- npx -y server-fs '/my docs'", "npx", ("-y", "server-fs", "/my docs"), None),
        ("web http://127.0.0.1:8000/mcp", None, (), "http://127.0.0.1:8000/mcp"),
    ],
)
def test_mcp_add_command_text(
    text: str, command: str | None, args: tuple[str, ...], url: str | None
) -> None:
    from kimi_magic.tools.mcp_config import spec_from_command

    spec = spec_from_command(text)
    assert (spec.command, spec.args, spec.url) == (command, args, url)


@pytest.mark.parametrize("text", ["", "files", "files --", "a b c", "web ftp://x"])
def test_mcp_add_usage(text: str) -> None:
    from kimi_magic.core.errors import ConfigurationError
    from kimi_magic.tools.mcp_config import spec_from_command

    with pytest.raises(ConfigurationError, match="Usage: %kimi mcp add NAME -- COMMAND"):
        spec_from_command(text)


def test_a_server_over_streamable_http(tmp_path: Path) -> None:
    import socket
    import subprocess

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [sys.executable, DEMO, "--http", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    servers = MCPServers({"web": ServerSpec("web", url=f"http://127.0.0.1:{port}/mcp")})
    try:
        wait_until(lambda: accepting(port), "the MCP server to accept connections")
        tools = {t.name: t for t in servers.tools("web")}
        assert run_one(ToolCall("1", "web__add", '{"a": 4, "b": 5}'), tools).text == "9"
        assert len(run_one(ToolCall("2", "web__red_square", "{}"), tools).images) == 1
    finally:
        servers.close()
        process.terminate()
        process.wait(timeout=10)


def _server_processes() -> list[int]:
    """This process's live children running the demo server (a /proc scan: no psutil)."""
    import os

    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if int(stat[1]) == me and stat[0] != "Z" and DEMO.encode() in command:
            found.append(int(entry.name))
    return found


def test_fifty_parallel_calls_against_a_server_killed_halfway_leave_one_server(
    servers: MCPServers,
) -> None:
    import os
    import signal
    from concurrent.futures import ThreadPoolExecutor

    tools = {t.name: t for t in servers.tools("demo")}
    (first,) = _server_processes()
    with ThreadPoolExecutor(50) as pool:
        futures = []
        for n in range(50):
            if n == 25:  # halfway: the server dies under the calls in flight
                os.kill(first, signal.SIGKILL)
            call = ToolCall(str(n), "demo__add", json.dumps({"a": n, "b": 1}))
            futures.append(pool.submit(run_one, call, tools))
        results = [f.result() for f in futures]
    # Each call is answered: `add` is marked read-only, so those the dead server dropped ran
    # again on the next one.
    assert [r.text for r in results] == [str(n + 1) for n in range(50)]
    left = wait_until(lambda: _server_processes() or None, "a server process")
    assert len(left) == 1 and left != [first]  # exactly one, tracked: close() stops it
    servers.close()
    wait_until(lambda: not _server_processes(), "the server to stop")


def test_a_tool_whose_server_dies_while_running_it_is_not_run_twice(
    emulator: Any, emulator_connection: dict[str, Any], tmp_path: Path
) -> None:
    """A tool with side effects and no read-only / idempotent mark may have done its work
    when its server died: the model and the user are told, and it is not repeated."""
    import kimi_magic

    _demo_config(tmp_path)
    ledger = tmp_path / "ran.txt"
    call = {"tool_calls": [{"name": "demo__append_then_die", "arguments": {"path": str(ledger)}}]}
    emulator.script(
        call, {"content": "{{tool_result:0}}"}, _add_call(2, 3), {"content": "{{tool_result:0}}"}
    )
    session = kimi_magic.Session(connection=emulator_connection)
    try:
        answer = session.ask("log it", tools="mcp:demo")
        assert ledger.read_text() == "ran\n"  # once, not again on a new server
        assert "stopped while it was running append_then_die" in answer.text
        assert "may or may not have done its work" in answer.text
        assert session.ask("add", tools="mcp:demo").text == "5"  # a new server answers
    finally:
        session.close()


def _demo_config(tmp_path: Path) -> None:
    config = tmp_path / "config" / "kimi_magic" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        f"[mcp_servers.demo]\ncommand = {json.dumps(sys.executable)}\nargs = [{json.dumps(DEMO)}]\n"
    )


def test_one_session_keeps_one_server_for_its_asks_and_closes_it(
    emulator: Any, emulator_connection: dict[str, Any], tmp_path: Path
) -> None:
    import kimi_magic

    _demo_config(tmp_path)
    before = _server_processes()
    for _ in range(3):  # each ask stops the servers of the session it made
        emulator.script(_add_call(1, 2), {"content": "{{tool_result:0}}"})
        assert kimi_magic.ask("add", tools=["mcp:demo"], **emulator_connection).text == "3"
        assert _server_processes() == before
    session = kimi_magic.Session(connection=emulator_connection)
    pids = set()
    for _ in range(3):  # a session's asks share one server
        emulator.script(_add_call(2, 2), {"content": "{{tool_result:0}}"})
        assert session.ask("add", tools="mcp:demo").text == "4"
        pids.add(tuple(_server_processes()))
    assert len(pids) == 1 and len(pids.pop()) == 1
    session.close()
    assert _server_processes() == before
    kimi = kimi_magic.Kimi(**emulator_connection)  # a Kimi's close stops its session's servers
    emulator.script(_add_call(3, 3), {"content": "{{tool_result:0}}"})
    assert kimi.ask("add", tools="mcp:demo").text == "6"
    assert len(_server_processes()) == len(before) + 1
    kimi.close()
    assert _server_processes() == before


def _add_call(a: int, b: int) -> dict[str, Any]:
    return {"tool_calls": [{"name": "demo__add", "arguments": {"a": a, "b": b}}]}
