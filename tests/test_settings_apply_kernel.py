"""Issue 15, settings that apply at once, in a real kernel: a fixed CLOUDFLARE_API_TOKEN in
os.environ works on the next %%kimi after a 401, and a new KIMI_MAGIC_BASE_URL moves the next
request to the other server, with no restart."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _canary import CANARY
from kernel_session import Execution, KernelSession

from kimi_magic.emulator import Emulator

pytestmark = pytest.mark.notebook

WRONG_TOKEN = "wrong-token-0123456789"


@pytest.fixture
def kernel(emulator_kernel: KernelSession, emulator: Emulator) -> Iterator[KernelSession]:
    """The module's kernel; its environment put back after each test."""
    assert not emulator_kernel.run("import os").errors
    yield emulator_kernel
    restore = (
        "import os\n"
        f"os.environ['CLOUDFLARE_API_TOKEN'] = {emulator.token!r}\n"
        f"os.environ['KIMI_MAGIC_BASE_URL'] = {emulator.base_url!r}"
    )
    assert not emulator_kernel.run(restore).errors


def shown(execution: Execution) -> str:
    """Everything the cell showed: outputs' text, streams and error paragraphs."""
    parts = [execution.stream_text("stdout"), execution.stream_text("stderr")]
    for output in execution.final_outputs():
        data = output.get("data", {})
        parts.append(data.get("text/markdown") or data.get("text/plain") or "")
    parts += ["\n".join(e["content"]["traceback"]) for e in execution.errors]
    return "\n".join(parts)


def test_a_fixed_token_works_on_the_next_call(kernel: KernelSession, emulator: Emulator) -> None:
    emulator.script({"content": "Hello from the emulator."})
    assert not kernel.run(f"os.environ['CLOUDFLARE_API_TOKEN'] = {WRONG_TOKEN!r}").errors
    refused = shown(kernel.run("%%kimi\nSay hello."))
    assert "rejected the API token" in refused and "CLOUDFLARE_API_TOKEN" in refused
    assert "Hello" not in refused
    # The user fixes the token as a new user would: in os.environ, no restart.
    assert not kernel.run(f"os.environ['CLOUDFLARE_API_TOKEN'] = {CANARY!r}").errors
    answered = shown(kernel.run("%%kimi\nSay hello."))
    assert "Hello from the emulator." in answered
    assert "rejected" not in answered
    assert [r["authorized"] for r in emulator.requests] == [False, True]


def test_a_new_base_url_moves_the_next_request(kernel: KernelSession, emulator: Emulator) -> None:
    with Emulator(token=CANARY, account_id=emulator.account_id) as other:
        emulator.script({"content": "Answered by the first server."})
        other.script({"content": "Answered by the second server."})
        first = shown(kernel.run("%%kimi\nWho answers?"))
        assert "Answered by the first server." in first
        assert not kernel.run(f"os.environ['KIMI_MAGIC_BASE_URL'] = {other.base_url!r}").errors
        second = shown(kernel.run("%%kimi\nWho answers now?"))
        assert "Answered by the second server." in second
        assert len(emulator.requests) == 1 and len(other.requests) == 1


def test_a_window_with_no_room_for_a_prompt_is_refused_with_what_to_set(
    kernel: KernelSession, emulator: Emulator
) -> None:
    emulator.script({"content": "Still answering."})
    assert not kernel.run("%config KimiMagics.context_window = 1200").errors
    refused = shown(kernel.run("%%kimi\nAre you there?"))
    assert "context_window = 1,200 tokens leaves no room for a prompt" in refused
    assert "-15," not in refused and "Traceback" not in refused
    assert emulator.requests == []
    assert not kernel.run("%config KimiMagics.context_window = None").errors
    answered = shown(kernel.run("%%kimi\nAre you there?"))
    assert "Still answering." in answered and "/ 245,760 tokens" in answered
