"""Running one round of tool calls: decode the arguments, call, bound what comes back.

A tool that raises, an unknown tool or arguments that are not JSON become an error result the
model reads (it can fix its call); only an interrupt stops the round. Calls run in parallel
when the model asked for several at once, except tools that must run on the calling thread.
"""

from __future__ import annotations

import contextvars
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from ..core.constants import TOOL_PARALLEL_WORKERS, TOOL_RESULT_CHARS
from ..core.types import ToolCall
from .registry import Tool, decode_arguments
from .results import ToolResult, as_output, clip, images_as_urls

Observer = Callable[[ToolCall, "ToolResult | None"], None]  # result None: the call started


def run_calls(
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    *,
    parallel: bool = True,
    observer: Observer | None = None,
    limit: int = TOOL_RESULT_CHARS,
) -> list[ToolResult]:
    """Run every call of one round; results come back in the order of the calls."""
    notify = observer or (lambda call, result: None)
    pooled = [
        i
        for i, call in enumerate(calls)
        if parallel and len(calls) > 1 and not _main_thread(tools.get(call.name))
    ]
    results: dict[int, ToolResult] = {}
    futures: dict[int, Future[ToolResult]] = {}
    if pooled:
        pool = ThreadPoolExecutor(min(TOOL_PARALLEL_WORKERS, len(pooled)), "kimi-magic-tool")
        try:
            for i in pooled:
                notify(calls[i], None)
                # The worker sees this thread's context: the turn's redactor included.
                context = contextvars.copy_context()
                futures[i] = pool.submit(context.run, run_one, calls[i], tools, limit)
            _run_rest(calls, tools, pooled, results, notify, limit)
            for i, future in futures.items():
                results[i] = future.result()
                notify(calls[i], results[i])
        finally:
            # An interrupt must not wait for a tool that hangs: leave its thread behind.
            pool.shutdown(wait=False, cancel_futures=True)
    else:
        _run_rest(calls, tools, pooled, results, notify, limit)
    return [results[i] for i in range(len(calls))]


def _run_rest(
    calls: Sequence[ToolCall],
    tools: Mapping[str, Tool],
    pooled: list[int],
    results: dict[int, ToolResult],
    notify: Observer,
    limit: int,
) -> None:
    """The calls not in the pool, one after another on this thread."""
    for i, call in enumerate(calls):
        if i in pooled:
            continue
        notify(call, None)
        results[i] = run_one(call, tools, limit)
        notify(call, results[i])


def _main_thread(tool: Tool | None) -> bool:
    return tool is not None and tool.main_thread


def run_one(
    call: ToolCall, tools: Mapping[str, Tool], limit: int = TOOL_RESULT_CHARS
) -> ToolResult:
    """One call's result; every failure but an interrupt is a result the model reads."""
    started = time.perf_counter()

    def failed(text: str) -> ToolResult:
        return ToolResult(call, clip(text, limit), error=True, seconds=_since(started))

    tool = tools.get(call.name)
    if tool is None:
        offered = ", ".join(sorted(tools)) or "none"
        return failed(f"There is no tool called {call.name!r}. The tools offered: {offered}.")
    try:
        arguments = decode_arguments(call.arguments)
    except ValueError as error:
        return failed(f"{error} Call {call.name} again with a JSON object of its parameters.")
    try:
        output = as_output(tool(arguments))
    except Exception as error:  # the tool's own failure is the model's to read and fix
        return failed(_error_text(tool, error))
    urls, labels = images_as_urls(output.images, call.name) if output.images else ((), ())
    text = "\n".join(part for part in (output.text, *labels) if part) or "(no output)"
    return ToolResult(
        call,
        clip(text, limit),
        images=urls,
        error=output.error,
        denied=output.denied,
        seconds=_since(started),
        code=output.code,
        image_labels=labels,
    )


def _error_text(tool: Tool, error: Exception) -> str:
    """What the model reads when a tool raised: the exception, and the signature when the
    arguments did not fit."""
    text = f"The tool {tool.name} raised {type(error).__name__}: {error}"
    if isinstance(error, TypeError) and "argument" in str(error):
        params = ", ".join(tool.parameters.get("properties", {}))
        text += f". Its parameters are: {params or '(none)'}."
    return text


def _since(started: float) -> float:
    return time.perf_counter() - started


def definitions(tools: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The request's `tools` list."""
    return [tool.definition() for tool in tools.values()]
