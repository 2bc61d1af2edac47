"""One round of tool calls: parallel runs, failures the model reads, bounded results, images."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from waiting import HANG_GUARD_S

from kimi_magic.core.types import ToolCall
from kimi_magic.tools.registry import Tool, tool_from_function
from kimi_magic.tools.results import ToolOutput
from kimi_magic.tools.runner import run_calls, run_one

PNG_1PX = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000b49444154789c6360000200000500017a5eab3f0000000049454e44ae426082"
)


def tools(*functions: Any, **options: Any) -> dict[str, Tool]:
    made = [tool_from_function(f, **options) for f in functions]
    return {t.name: t for t in made}


def add(a: int, b: int) -> int:
    """a + b."""
    return a + b


def explode(reason: str) -> str:
    """Always fails."""
    raise RuntimeError(f"boom: {reason}")


def test_calls_run_in_parallel_and_results_keep_the_call_order() -> None:
    barrier = threading.Barrier(3, timeout=5)

    def wait(n: int) -> int:
        """Waits for the others."""
        barrier.wait()  # only passes if all three run at the same time
        return n

    calls = [ToolCall(f"c{i}", "wait", f'{{"n": {i}}}') for i in range(3)]
    results = run_calls(calls, tools(wait))
    assert [r.text for r in results] == ["0", "1", "2"]
    assert [r.call.id for r in results] == ["c0", "c1", "c2"]


def test_parallel_off_runs_one_after_another_on_this_thread() -> None:
    seen: list[str] = []

    def where() -> str:
        """The thread's name."""
        seen.append(threading.current_thread().name)
        return "ok"

    run_calls(
        [ToolCall("a", "where", "{}"), ToolCall("b", "where", "{}")], tools(where), parallel=False
    )
    assert seen == [threading.current_thread().name] * 2


def test_main_thread_tools_stay_on_the_calling_thread_in_a_parallel_round() -> None:
    seen: dict[str, str] = {}

    def pinned() -> str:
        """Must run here."""
        seen["pinned"] = threading.current_thread().name
        return "p"

    def free() -> str:
        """May run anywhere."""
        return "f"

    offered = {**tools(free), "pinned": Tool("pinned", "", {}, pinned, main_thread=True)}
    results = run_calls([ToolCall("1", "free", "{}"), ToolCall("2", "pinned", "{}")], offered)
    assert [r.text for r in results] == ["f", "p"]
    assert seen["pinned"] == threading.current_thread().name


@pytest.mark.parametrize(
    ("call", "expected"),
    [
        (ToolCall("1", "explode", '{"reason": "no fuel"}'), "raised RuntimeError: boom: no fuel"),
        (
            ToolCall("1", "nothere", "{}"),
            "There is no tool called 'nothere'. The tools offered: add, explode",
        ),
        (ToolCall("1", "add", '{"a": 1,'), "The arguments are not valid JSON"),
        (ToolCall("1", "add", "[1, 2]"), "must be a JSON object, not list"),
        (ToolCall("1", "add", '{"a": 1}'), "Its parameters are: a, b."),
    ],
    ids=["raises", "unknown", "bad json", "not an object", "missing argument"],
)
def test_failures_become_error_results_the_model_reads(call: ToolCall, expected: str) -> None:
    result = run_one(call, tools(add, explode))
    assert result.error and result.status == "error"
    assert expected in result.text


def test_empty_arguments_mean_no_arguments() -> None:
    def ping() -> str:
        """Pong."""
        return "pong"

    assert run_one(ToolCall("1", "ping", ""), tools(ping)).text == "pong"


def test_results_are_bounded_and_say_what_was_cut() -> None:
    def big() -> str:
        """Lots."""
        return "x" * 50_000

    result = run_one(ToolCall("1", "big", "{}"), tools(big), limit=1_000)
    assert len(result.text) <= 1_000
    assert result.text.endswith("[cut: showing the first 1,000 of 50,000 characters]")


def test_values_become_json_or_renderings() -> None:
    def data() -> dict[str, Any]:
        """A dict."""
        return {"a": [1, 2], "b": None}

    def frame() -> Any:
        """A DataFrame."""
        import pandas as pd

        return pd.DataFrame({"x": range(100)})

    assert run_one(ToolCall("1", "data", "{}"), tools(data)).text == '{"a": [1, 2], "b": null}'
    assert "100 rows" in run_one(ToolCall("1", "frame", "{}"), tools(frame)).text


def test_images_come_back_as_data_urls_with_a_label_in_the_text() -> None:
    def picture() -> ToolOutput:
        """A picture."""
        return ToolOutput("here it is", images=(PNG_1PX,))

    result = run_one(ToolCall("1", "picture", "{}"), tools(picture))
    assert result.images and result.images[0].startswith("data:image/png;base64,")
    assert result.text == "here it is\n[picture image 1: 1x1 px, 68 bytes PNG]"


def test_observer_hears_start_and_end_of_each_call() -> None:
    heard: list[tuple[str, str | None]] = []
    run_calls(
        [ToolCall("1", "add", '{"a": 1, "b": 2}'), ToolCall("2", "explode", '{"reason": "x"}')],
        tools(add, explode),
        observer=lambda call, result: heard.append((call.id, result and result.status)),
    )
    assert sorted(heard, key=str) == sorted(
        [("1", None), ("2", None), ("1", "ok"), ("2", "error")], key=str
    )


def test_an_interrupt_does_not_wait_for_a_hanging_parallel_tool() -> None:
    import _thread

    release, returned = threading.Event(), threading.Event()

    def hang() -> str:
        """Returns only when the test releases it (or after the hang guard)."""
        release.wait(HANG_GUARD_S)
        returned.set()
        return "late"

    def interrupt_me() -> str:
        """Interrupts the caller, as the kernel's interrupt button would."""
        _thread.interrupt_main()
        return "x"

    offered = {
        **tools(hang),
        "interrupt_me": Tool("interrupt_me", "", {}, interrupt_me, main_thread=True),
    }
    try:
        with pytest.raises(KeyboardInterrupt):
            run_calls([ToolCall("1", "hang", "{}"), ToolCall("2", "interrupt_me", "{}")], offered)
        # The interrupt came back while the hanging tool was still waiting for its release.
        assert not returned.is_set()
    finally:
        release.set()
