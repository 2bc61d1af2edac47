"""Where the browser's main thread goes while a cell runs: a Chrome trace, broken down (issue 16).

    python benchmarks/trace_browser.py                  # the 20,000-character answer streaming
    python benchmarks/trace_browser.py --cell sleep     # the floor: a cell that only sleeps
    python benchmarks/trace_browser.py --cell print     # a cell printing a line every 100 ms
    python benchmarks/trace_browser.py --cell idle      # nothing runs
    ... --save trace.json                               # keep the trace (open it in DevTools)
    ... --no-trace                                      # Chrome's counters only (no overhead)

The same set-up as bench_browser.py (emulator, JupyterLab, Debian's Chromium). Over a window
(the streaming window, or 8 s of a cell that runs 10 s) it records a Chrome trace (categories
devtools.timeline, its disabled-by-default twin, blink, cc, toplevel, v8's sampling profiler)
and prints, for the renderer's main thread: the share of wall time in tasks (busy), the CPU
share, the self time of the trace events by kind (paint, layout, style, compositing, GC,
script...), and the JavaScript samples by source file and function, so script time can be
told apart: websocket message parsing, widget model updates, markdown (marked, sanitizer),
MathJax, JupyterLab's own.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from bench_browser import (
    ARM_JS,
    CHUNKS,
    STATE_JS,
    TIMEOUT_S,
    metrics,
    mixed_answer,
    warmed_up_lab,
)

from kimi_magic.emulator import Emulator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "browser"))
from _notebook_page import run_menu, select_cell

CATEGORIES = [
    "devtools.timeline",
    "disabled-by-default-devtools.timeline",
    "disabled-by-default-devtools.timeline.frame",
    "blink",
    "cc",
    "toplevel",
    "v8",
    "v8.execute",
    "disabled-by-default-v8.gc",
    "disabled-by-default-v8.cpu_profiler",
]
FLOOR_CELLS = {
    "sleep": "import time\ntime.sleep(10)",
    "print": "import time\nfor i in range(100):\n    print(f'line {i}')\n    time.sleep(0.1)",
    "idle": "",
}
# Trace events by what the main thread does, first match wins (a name prefix, or a name).
KINDS = (
    ("tracing's own overhead", ("CpuProfiler::",)),
    ("GC", ("MinorGC", "MajorGC", "V8.GC", "BlinkGC")),
    ("HTML parsing (innerHTML)", ("ParseHTML", "HTMLDocumentParser")),
    (
        "script",
        (
            "FunctionCall",
            "RunMicrotasks",
            "v8.",
            "V8.",
            "EvaluateScript",
            "TimerFire",
            "EventDispatch",
            "FireAnimationFrame",
            "AsyncTask",
            "CustomElement",
        ),
    ),
    (
        "hit testing (the mouse is over the page)",
        ("HitTest", "LayoutView::HitTest", "EventHandler::handleMouseMoveEvent"),
    ),
    (
        "compositing, layers",
        (
            "Blink.CompositingInputs",
            "PaintArtifactCompositor",
            "Layerize",
            "Commit",
            "ProxyMain::BeginMainFrame::commit",
            "LayerTreeHost",
            "UpdateLayer",
            "Blink.CompositingCommit",
        ),
    ),
    ("paint + pre-paint", ("Paint", "Blink.Paint", "CullRectUpdate", "PrePaint", "Blink.PrePaint")),
    (
        "layout",
        (
            "Layout",
            "LocalFrameView::performLayout",
            "InlineNode::",
            "LocalFrameView::layout",
            "Blink.Layout",
        ),
    ),
    (
        "style",
        (
            "Document::recalcStyle",
            "UpdateLayoutTree",
            "Document::updateStyle",
            "Document::rebuildLayoutTree",
            "Blink.Style",
            "Document::updateActiveStyle",
        ),
    ),
    (
        "message receipt (IPC, task overhead)",
        ("Receive mojo message", "RunTask", "ThreadControllerImpl::RunTask", "SimpleWatcher"),
    ),
)
# JavaScript, by a function on the stack (inclusive; one sample can count in several rows).
JS_PARTS = (
    ("websocket message parsing", "deserializeV1KernelWebsocketJupyterOrg"),
    ("widget state updates (set_state)", "set_state"),
    ("Output widget appends (_msgHook)", "_msgHook"),
    ("Output widget clears (_clear)", "_clear"),
    ("markdown lexing (marked)", "lex"),
    ("code highlighting", "highlight"),
    ("MathJax typesetting", "typeset"),
    ("garbage collection", "(garbage collector)"),
)
FLOOR_WINDOW = (1.0, 9.0)  # seconds after the run click
TOP = 25


def main_thread(events: list[dict[str, Any]]) -> tuple[int, int]:
    """(pid, tid) of the page's renderer main thread: the CrRendererMain with most events."""
    names = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("ph") == "M"
        and e.get("name") == "thread_name"
        and e["args"].get("name") == "CrRendererMain"
    }
    counts = Counter((e["pid"], e["tid"]) for e in events if (e["pid"], e["tid"]) in names)
    return counts.most_common(1)[0][0]


def self_times(events: list[dict[str, Any]], t0: float, t1: float) -> tuple[Counter, float, float]:
    """Self time (ms) of each event name on one thread; busy = the top-level tasks' time,
    cpu = their thread time (both ms, clipped to [t0, t1] in trace microseconds)."""
    spans: list[tuple[float, float, str, float | None]] = []
    open_: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in sorted(events, key=lambda e: e["ts"]):
        ph = e.get("ph")
        if ph == "X":
            spans.append((e["ts"], e["ts"] + e.get("dur", 0), e["name"], e.get("tdur")))
        elif ph == "B":
            open_[e["name"]].append(e)
        elif ph == "E" and open_[e["name"]]:
            b = open_[e["name"]].pop()
            tdur = e["tts"] - b["tts"] if "tts" in e and "tts" in b else None
            spans.append((b["ts"], e["ts"], e["name"], tdur))
    spans = [s for s in spans if s[1] > t0 and s[0] < t1]
    # Longer first at equal start, so a parent comes before its children.
    spans.sort(key=lambda s: (s[0], -(s[1] - s[0])))
    totals: Counter = Counter()
    busy = cpu = 0.0
    stack: list[list[Any]] = []  # [end, name, children time]

    def pop_until(ts: float) -> None:
        while stack and stack[-1][0] <= ts:
            end, name, start, child = stack.pop()
            totals[name] += (min(end, t1) - max(start, t0)) - child
            if stack:
                stack[-1][3] += min(end, t1) - max(start, t0)

    for start, end, name, tdur in spans:
        pop_until(start)
        if not stack:
            busy += min(end, t1) - max(start, t0)
            cpu += tdur or 0.0
        end = min(end, stack[-1][0]) if stack else end
        stack.append([end, name, start, 0.0])
    pop_until(float("inf"))
    return Counter({k: v / 1000 for k, v in totals.items()}), busy / 1000, cpu / 1000


def js_profile(
    events: list[dict[str, Any]], pid: int, t0: float, t1: float
) -> tuple[Counter, Counter]:
    """Sampled JS self time (ms) by source file and by function, from v8's ProfileChunks."""
    nodes: dict[tuple[str, int], dict[str, Any]] = {}
    samples: list[tuple[str, int, float]] = []
    start_ts: dict[str, float] = {}
    for e in events:
        if e["pid"] != pid:
            continue
        if e.get("name") == "Profile":
            start_ts[e["id"]] = e["args"]["data"]["startTime"]
        if e.get("name") != "ProfileChunk":
            continue
        data = e["args"]["data"]
        pid_ = e["id"]
        profile = data.get("cpuProfile", {})
        for node in profile.get("nodes", []):
            nodes[(pid_, node["id"])] = node
        ts = start_ts.get(pid_, 0.0)
        for node_id, delta in zip(
            profile.get("samples", []), data.get("timeDeltas", []), strict=False
        ):
            ts += delta
            samples.append((pid_, node_id, ts))
        start_ts[pid_] = ts
    by_file: Counter = Counter()
    by_function: Counter = Counter()
    samples.sort(key=lambda s: s[2])
    for (pid_, node_id, ts), nxt in zip(samples, [*samples[1:], None], strict=False):
        if not (t0 <= ts < t1) or nxt is None:
            continue
        node = nodes.get((pid_, node_id))
        if node is None:
            continue
        frame = node["callFrame"]
        name = frame.get("functionName") or "(anonymous)"
        if name in ("(idle)", "(program)", "(root)"):
            continue
        url = frame.get("url", "").rsplit("/", 1)[-1].split("?")[0] or name
        ms = min(nxt[2] - ts, 10_000) / 1000
        by_file[url] += ms
        by_function[f"{name} ({url}:{frame.get('lineNumber', 0)})"] += ms
    return by_file, by_function


def kind_of(name: str) -> str:
    for kind, prefixes in KINDS:
        if name.startswith(prefixes):
            return kind
    return "other (frame scheduling, observers)"


def js_parts(events: list[dict[str, Any]], pid: int, t0: float, t1: float) -> Counter:
    """Sampled JS time (ms) under each of JS_PARTS' functions."""
    nodes: dict[tuple[str, int], dict[str, Any]] = {}
    samples: list[tuple[str, int, float]] = []
    clock: dict[str, float] = {}
    for e in events:
        if e["pid"] != pid or e.get("name") not in ("Profile", "ProfileChunk"):
            continue
        data = e["args"]["data"]
        if e["name"] == "Profile":
            clock[e["id"]] = data["startTime"]
            continue
        profile = data.get("cpuProfile", {})
        for node in profile.get("nodes", []):
            nodes[(e["id"], node["id"])] = node
        ts = clock.get(e["id"], 0.0)
        deltas = data.get("timeDeltas", [])
        for node_id, delta in zip(profile.get("samples", []), deltas, strict=False):
            ts += delta
            samples.append((e["id"], node_id, ts))
        clock[e["id"]] = ts
    samples.sort(key=lambda s: s[2])
    parts: Counter = Counter()
    for (profile_id, node_id, ts), (_, _, after) in itertools.pairwise(samples):
        if not t0 <= ts < t1:
            continue
        names = set()
        node = nodes.get((profile_id, node_id))
        while node is not None:
            names.add(node["callFrame"].get("functionName", ""))
            node = nodes.get((profile_id, node.get("parent", -1)))
        for label, function in JS_PARTS:
            if function in names:
                parts[label] += min(after - ts, 10_000) / 1000
    return parts


def report(trace: dict[str, Any] | list[Any], window: tuple[float, float] | None) -> None:
    events = trace["traceEvents"] if isinstance(trace, dict) else trace
    pid, tid = main_thread(events)
    thread = [e for e in events if e["pid"] == pid and e["tid"] == tid and "ts" in e]
    if window is None:
        window = trace.get("window") if isinstance(trace, dict) else None
    if window is None:
        stamps = [e["ts"] for e in thread if e["ts"] > 0]
        window = (min(stamps), max(stamps))
    t0, t1 = window
    wall = (t1 - t0) / 1000
    totals, busy, cpu = self_times(thread, t0, t1)
    print(f"window {wall / 1000:.1f} s; main thread: busy {busy / wall:.1%}, CPU {cpu / wall:.1%}")
    kinds: Counter = Counter()
    for name, ms in totals.items():
        kinds[kind_of(name)] += ms
    print("  by kind (self time of trace events; share of the window):")
    for kind, ms in kinds.most_common():
        print(f"    {ms / wall:7.2%}  {ms:8.1f} ms  {kind}")
    print("  JavaScript, by what it was doing (sampled, inclusive):")
    for label, ms in js_parts(events, pid, t0, t1).most_common():
        print(f"    {ms / wall:7.2%}  {ms:8.1f} ms  {label}")
    print("  self time by trace event (share of the window):")
    for name, ms in totals.most_common(TOP):
        print(f"    {ms / wall:7.2%}  {ms:8.1f} ms  {name}")
    by_file, by_function = js_profile(events, pid, t0, t1)
    sampled = sum(by_file.values())
    print(f"  JavaScript samples: {sampled / wall:.1%} of the window, by file:")
    for name, ms in by_file.most_common(12):
        print(f"    {ms / wall:7.2%}  {ms:8.1f} ms  {name}")
    print("  by function:")
    for name, ms in by_function.most_common(TOP):
        print(f"    {ms / wall:7.2%}  {ms:8.1f} ms  {name}")


class Frames:
    """The kernel websocket's messages received by the page, by kind (msg_type, and for a
    widget comm message its method and the state keys it sets), with their bytes."""

    def __init__(self, page: Any) -> None:
        self.on = False
        self.counts: Counter = Counter()
        self.sizes: Counter = Counter()
        page.on("websocket", self._socket)

    def _socket(self, socket: Any) -> None:
        if "/channels" in socket.url:
            socket.on("framereceived", self._frame)

    def _frame(self, payload: Any) -> None:
        if not self.on:
            return
        raw = payload if isinstance(payload, bytes) else payload.encode()
        text = raw.decode("utf-8", "replace")
        kind = "?"
        for probe in ('"msg_type": "', '"msg_type":"'):
            at = text.find(probe)
            if at >= 0:
                kind = text[at + len(probe) : text.find('"', at + len(probe))]
                break
        if kind == "comm_msg":
            for key in ("outputs", "value", "children", "description", "disabled"):
                if f'"{key}"' in text:
                    kind += f" ({key})"
                    break
        self.counts[kind] += 1
        self.sizes[kind] += len(raw)

    def report(self, seconds: float) -> None:
        total = sum(self.counts.values())
        print(f"  websocket messages received: {total / seconds:.1f}/s")
        for kind, count in self.counts.most_common():
            print(f"    {count / seconds:6.1f}/s {self.sizes[kind] / count:8.0f} B  {kind}")


def trace_window(
    browser: Any, page: Any, run: Any, tracing: bool = True
) -> tuple[dict[str, Any] | None, tuple[float, float], dict[str, float]]:
    """Run `run(mark)` under a trace; `mark()` returns the trace clock (us) at each call. Also
    the renderer's own counters over the window (busy and CPU shares), which tracing inflates:
    `--no-trace` gives them alone."""
    if tracing:
        browser.start_tracing(page=page, categories=CATEGORIES)
    cdp = page.context.new_cdp_session(page)
    cdp.send("Performance.enable", {"timeDomain": "timeTicks"})
    samples: list[dict[str, float]] = []

    def mark() -> float:
        # A trace clock reading: Performance.getMetrics' Timestamp is the same monotonic clock.
        samples.append(metrics(cdp))
        return samples[-1]["Timestamp"] * 1e6

    window = run(mark)
    trace = json.loads(browser.stop_tracing()) if tracing else None
    cdp.detach()
    first, last = samples[0], samples[-1]
    wall = last["Timestamp"] - first["Timestamp"]
    counters = {
        name: (last[name] - first[name]) / wall
        for name in ("TaskDuration", "ThreadTime", "LayoutDuration", "RecalcStyleDuration")
    }
    return trace, window, counters


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cell", choices=["stream", *FLOOR_CELLS], default="stream")
    parser.add_argument("--seconds", type=float, default=10.0, help="stream length (about)")
    parser.add_argument("--save", type=Path, help="write the trace here")
    parser.add_argument("--load", type=Path, help="only break down a saved trace")
    parser.add_argument(
        "--no-trace", dest="trace", action="store_false", help="Chrome's counters only"
    )
    args = parser.parse_args()
    if args.load:
        report(json.loads(args.load.read_text()), None)
        return
    measured = FLOOR_CELLS.get(args.cell, "%%kimi --new\nWrite a long answer.")
    with (
        Emulator(token="trace-browser-token") as emu,
        warmed_up_lab(emu, measured, watch=Frames) as (browser, page, frames),
    ):
        time.sleep(1.0)

        def run_stream(mark: Any) -> tuple[float, float]:
            emu.script({"content": mixed_answer(), "chunks": CHUNKS, "rate": CHUNKS / args.seconds})
            page.evaluate(ARM_JS, 2)
            select_cell(page, 2)
            run_menu(page, "Run Selected Cell and Do not Advance")
            start = end = None
            deadline = time.monotonic() + TIMEOUT_S
            while end is None and time.monotonic() < deadline:
                started, final = page.evaluate(STATE_JS)
                if started and start is None:
                    start = mark()
                    frames.on = True
                if final:
                    end = mark()
                    frames.on = False
                time.sleep(0.1)
            assert start is not None and end is not None, "the answer did not finish"
            time.sleep(2.0)
            return start, end

        def run_floor(mark: Any) -> tuple[float, float]:
            select_cell(page, 2)
            clicked = time.monotonic()
            run_menu(page, "Run Selected Cell and Do not Advance")
            time.sleep(max(0.0, clicked + FLOOR_WINDOW[0] - time.monotonic()))
            start = mark()
            frames.on = True
            time.sleep(FLOOR_WINDOW[1] - FLOOR_WINDOW[0])
            frames.on = False
            return start, mark()

        trace, window, counters = trace_window(
            browser, page, run_stream if args.cell == "stream" else run_floor, args.trace
        )
    if args.save and trace is not None:
        args.save.write_text(json.dumps({**trace, "window": window}))
    print(
        f"cell: {args.cell}; Chrome's counters over the window:"
        f" busy {counters['TaskDuration']:.1%},"
        f" CPU {counters['ThreadTime']:.1%}, layout {counters['LayoutDuration']:.1%},"
        f" style {counters['RecalcStyleDuration']:.1%}" + (" (tracing on)" if trace else "")
    )
    if trace is not None:
        report(trace, window)
    frames.report((window[1] - window[0]) / 1e6)


if __name__ == "__main__":
    main()
