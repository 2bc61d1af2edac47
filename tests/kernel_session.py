"""A real Jupyter kernel driven over ZMQ, recording what it publishes: for tests and benchmarks.

What a frontend would receive is exactly the kernel's iopub messages, so counting them (and
their bytes) measures what the user's browser has to process.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kimi_magic.render.frontend import PROBE_TARGET

Message = dict[str, Any]


@dataclass
class Execution:
    """What one execute request published, in order, with each message's size in bytes."""

    messages: list[Message] = field(default_factory=list)
    sizes: list[int] = field(default_factory=list)
    reply: Message | None = None
    started: float = 0.0
    ended: float = 0.0
    msg_id: str = ""

    @property
    def published_bytes(self) -> int:
        return sum(self.sizes)

    def of_type(self, *types: str) -> list[Message]:
        return [m for m in self.messages if m["msg_type"] in types]

    @property
    def errors(self) -> list[Message]:
        return self.of_type("error")

    def stream_text(self, name: str = "stdout") -> str:
        return "".join(
            m["content"]["text"] for m in self.of_type("stream") if m["content"]["name"] == name
        )

    def final_outputs(self) -> list[dict[str, Any]]:
        """Display outputs as a notebook would keep them: display_id updates applied, and
        outputs captured by an Output widget (one whose `msg_id` is set) left to the widget."""
        outputs: list[dict[str, Any]] = []
        by_id: dict[str, int] = {}
        capturing: set[str] = set()
        for message in self.messages:
            if message["msg_type"] == "comm_msg":
                state = message["content"]["data"].get("state", {})
                if "msg_id" in state:
                    comm_id = message["content"]["comm_id"]
                    (capturing.add if state["msg_id"] else capturing.discard)(comm_id)
                continue
            if message["msg_type"] not in ("display_data", "update_display_data", "execute_result"):
                continue
            if capturing and message["msg_type"] == "display_data":
                continue
            content = message["content"]
            display_id = content.get("transient", {}).get("display_id")
            if message["msg_type"] == "update_display_data":
                if display_id in by_id:
                    outputs[by_id[display_id]] = content
                continue
            if display_id:
                by_id[display_id] = len(outputs)
            outputs.append(content)
        return outputs


class KernelSession:
    """Start a python3 kernel with `env` added; `run(code)` returns an `Execution`.

    With `widgets` (the default) it answers as JupyterLab does: a comm the kernel opens to a
    target no frontend registers is closed at once (kimi_magic's frontend probe, see
    kimi_magic/render/frontend.py), so the kernel knows a widget frontend is there. Without,
    it answers nothing, as nbclient does.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None = None,
        widgets: bool = True,
        *,
        probe_answer_delay: float = 0.0,
        notebook_metadata: bool = False,
    ) -> None:
        """`widgets`: close comms to unknown targets, as JupyterLab does (nbclient does not);
        `probe_answer_delay`: that many seconds late, as a loaded browser may;
        `notebook_metadata`: send each cell with the execute_request metadata JupyterLab sends."""
        from jupyter_client.manager import KernelManager

        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(env={**os.environ, **(env or {})})
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)
        # Messages that arrived while another request was read (a background answer's
        # updates come after its cell went idle), by parent msg_id.
        self.late: dict[str, list[Message]] = {}
        self.widgets = widgets
        self.probe_answer_delay = probe_answer_delay
        self.notebook_metadata = notebook_metadata
        self._closes_due: list[tuple[float, Message]] = []  # (monotonic time, comm_close)

    @property
    def pid(self) -> int:
        return self.manager.provisioner.process.pid  # type: ignore[union-attr]

    def cpu_seconds(self) -> float:
        """User + system CPU time the kernel process has used (Linux /proc)."""
        with open(f"/proc/{self.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def run(
        self,
        code: str,
        *,
        timeout: float = 120.0,
        on_message: Callable[[Message, Execution], None] | None = None,
        stdin: Callable[[str], str] | None = None,
    ) -> Execution:
        """Run `code`; with `stdin`, as a console does: allow_stdin, and each input()'s prompt
        answered with `stdin(prompt)`."""
        execution = Execution(started=time.perf_counter())
        # jupyter_client sends allow_stdin=True by default, as JupyterLab does.
        msg_id = execution.msg_id = self._execute(code)
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"The kernel did not finish within {timeout} s:\n{code}")
            if stdin is not None:  # a console: answer each input() as its user would
                self._answer_input(stdin)
                remaining = min(remaining, 0.05)
            if self._closes_due:  # a late probe answer to send meanwhile
                remaining = max(0.0, min(remaining, self._send_due_closes()))
            try:
                message = self.client.get_iopub_msg(timeout=remaining)
            except Exception as error:  # queue.Empty: only while also watching stdin or closes
                if (stdin is None and not self._closes_due) or type(error).__name__ != "Empty":
                    raise
                continue
            self._answer_comm(message)
            if message["parent_header"].get("msg_id") != msg_id:
                self._keep_late(message)
                continue
            execution.messages.append(message)
            execution.sizes.append(wire_size(message))
            if on_message is not None:
                on_message(message, execution)
            if message["msg_type"] == "status" and message["content"]["execution_state"] == "idle":
                break
        execution.ended = time.perf_counter()
        execution.reply = self.client.get_shell_msg(timeout=10)
        while execution.reply["parent_header"].get("msg_id") != msg_id:
            # A reply to an earlier request (wait_for_ready can send kernel_info twice under
            # load): taking it for this one shifted every later reply by one (seen in tests).
            execution.reply = self.client.get_shell_msg(timeout=10)
        return execution

    def _execute(self, code: str) -> str:
        if not self.notebook_metadata:
            return str(self.client.execute(code))  # jupyter_client's request, as nbclient's
        content = {
            "code": code,
            "silent": False,
            "store_history": True,
            "user_expressions": {},
            "allow_stdin": True,
            "stop_on_error": True,
        }
        metadata = {"deletedCells": [], "recordTiming": False, "cellId": os.urandom(8).hex()}
        request = self.client.session.msg("execute_request", content, metadata=metadata)
        self.client.shell_channel.send(request)
        return str(request["header"]["msg_id"])

    def _send_due_closes(self) -> float:
        """Send the comm_closes that are due; seconds until the next one (inf: none left)."""
        now = time.monotonic()
        for due, closing in [c for c in self._closes_due if c[0] <= now]:
            self.client.shell_channel.send(closing)
            self._closes_due.remove((due, closing))
        return min((due for due, _ in self._closes_due), default=float("inf")) - now

    def _answer_input(self, stdin: Callable[[str], str]) -> None:
        try:
            request = self.client.get_stdin_msg(timeout=0)
        except Exception as error:  # queue.Empty: no input() asked for
            if type(error).__name__ != "Empty":
                raise
            return
        self.client.input(stdin(request["content"].get("prompt", "")))

    def _keep_late(self, message: Message) -> None:
        parent = message["parent_header"].get("msg_id", "")
        self.late.setdefault(parent, []).append(message)

    def late_messages(
        self,
        execution: Execution,
        until: Callable[[list[Message]], bool],
        timeout: float = 60.0,
    ) -> list[Message]:
        """What `execution`'s cell published after it went idle, read until `until` holds."""
        deadline = time.monotonic() + timeout
        while not until(self.late.get(execution.msg_id, [])):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("The late messages never met the condition.")
            try:
                message = self.client.get_iopub_msg(timeout=min(remaining, 1.0))
                self._answer_comm(message)
                self._keep_late(message)
            except Exception as error:  # queue.Empty: nothing yet
                if type(error).__name__ != "Empty":
                    raise
        return self.late.get(execution.msg_id, [])

    def _answer_comm(self, message: Message) -> None:
        """What JupyterLab does with a comm opened to a target it does not know: close it."""
        if not self.widgets or message["msg_type"] != "comm_open":
            return
        if message["content"].get("target_name") == "jupyter.widget":
            return  # a widget: the widget manager takes it
        closing = self.client.session.msg(
            "comm_close", {"comm_id": message["content"]["comm_id"], "data": {}}
        )
        if self.probe_answer_delay and message["content"].get("target_name") == PROBE_TARGET:
            self._closes_due.append((time.monotonic() + self.probe_answer_delay, closing))
            return
        self.client.shell_channel.send(closing)

    def click(self, comm_id: str) -> None:
        """What a frontend sends when a Button is clicked."""
        message = self.client.session.msg(
            "comm_msg",
            {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}},
        )
        self.client.shell_channel.send(message)

    def interrupt(self) -> None:
        self.manager.interrupt_kernel()

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)
        self.manager.cleanup_resources()

    def __enter__(self) -> KernelSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def wire_size(message: Message) -> int:
    """Bytes of the message's JSON parts as the frontend receives them (header to content)."""
    parts = ("header", "parent_header", "metadata", "content")
    return sum(len(json.dumps(message.get(part, {}), default=str)) for part in parts)


def widget_of(message: Message) -> tuple[str, dict[str, Any]] | None:
    """(model name, state) when `message` opens a widget."""
    if message["msg_type"] != "comm_open":
        return None
    state = message["content"].get("data", {}).get("state", {})
    return state.get("_model_name", ""), state


# Other names a user's environment may give the endpoint or the token: unset for a kernel aimed
# at the emulator, so nothing else is reached.
OTHER_CREDENTIALS = (
    "KIMI_MAGIC_OPENAI_BASE_URL",
    "CF_ACCOUNT_ID",
    "CLOUDFLARE_AUTH_TOKEN",
    "CF_API_TOKEN",
    "KIMI_MAGIC_API_KEY",
)


def emulator_env(emulator: Any) -> dict[str, str]:
    """The variables that aim kimi_magic at `emulator`."""
    return {
        "KIMI_MAGIC_BASE_URL": emulator.base_url,
        "CLOUDFLARE_ACCOUNT_ID": emulator.account_id,
        "CLOUDFLARE_API_TOKEN": emulator.token,
    }


def aim_environment(patch: Any, emulator: Any) -> None:
    """Make the environment a kernel started now inherits reach `emulator` and nothing else."""
    for name in OTHER_CREDENTIALS:
        patch.delenv(name, raising=False)
    for name, value in emulator_env(emulator).items():
        patch.setenv(name, value)


@contextmanager
def kernel_aimed_at(
    emulator: Any, home: Path, widgets: bool = True, **frontend: Any
) -> Iterator[KernelSession]:
    """A real kernel with kimi_magic loaded, aimed at `emulator`, its config and cache folders
    and its working folder under `home` (no config of this machine reaches it). `frontend`:
    how its client behaves (KernelSession's keywords)."""
    env = {
        **emulator_env(emulator),
        "XDG_CONFIG_HOME": str(home / "config"),
        "XDG_CACHE_HOME": str(home / "cache"),
    }
    with KernelSession(env, widgets=widgets, **frontend) as session:
        loaded = session.run(f"import os; os.chdir({str(home)!r})\n%load_ext kimi_magic")
        assert not loaded.errors, loaded.errors
        yield session
