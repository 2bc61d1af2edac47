"""map at scale, against the emulator in its own process (as Cloudflare would be).

    python benchmarks/bench_map.py            # about a minute

1. 1,000 items, 100 ms emulated latency per request, concurrency 32: wall time against the
   ideal 1,000 / 32 x 0.1 s = 3.125 s, and this process's CPU share while the map ran;
   beside it, plain httpx on 32 threads against the same emulator (the floor), and the same
   map in a real Jupyter kernel with its progress bar (the kernel's CPU share), and map and
   plain httpx against benchmarks/lean_server.py, a server that costs almost no CPU (the
   client's own pace, as against Cloudflare).
2. The same with 20% of requests answered 429 (retried, the limit adapting).
3. Peak memory (tracemalloc) of the map machinery for 100,000 items: lazy input, results,
   checkpoint, with answers made in-process (no HTTP) so the figure is map's own.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

from kimi_magic.core.answer import Answer
from kimi_magic.core.types import Usage
from kimi_magic.scale.run import map_items
from kimi_magic.session.session import Session

ITEMS = 1_000
LATENCY_S = 0.1
CONCURRENCY = 32
IDEAL_S = ITEMS / CONCURRENCY * LATENCY_S
BIG = 100_000
CONNECTION = {"account_id": "test-account", "api_token": "test-token"}


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "kimi_magic.emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    base_url = line.rsplit(" at ", 1)[1].strip()
    return process, base_url


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def timed_map(
    base_url: str, load: dict[str, Any] | None, session: Session | None = None
) -> tuple[float, float, Any]:
    """One map job, in `session` (as the notebook's would be: its cap and ledger apply),
    or in a session made for the call. `load` shapes the emulator (None: not the emulator)."""
    if load is not None:
        root = base_url.rsplit("/client/v4", 1)[0]
        httpx.post(f"{root}/_emulator/reset")
        httpx.post(f"{root}/_emulator/load", json=load)
    items = [f"item number {i}" for i in range(ITEMS)]
    connection = {} if session is not None else dict(CONNECTION, base_url=base_url)
    cpu, start = cpu_seconds(), time.perf_counter()
    result = map_items(
        items,
        "Label {item}",
        instruction="Answer with one word.",
        session=session,
        concurrency=CONCURRENCY,
        checkpoint=False,
        progress=False,
        **connection,
    )
    wall = time.perf_counter() - start
    return wall, (cpu_seconds() - cpu) / wall, result


def per_item(wall: float, share: float) -> str:
    """CPU per item: steadier than the wall time on a busy machine, and the client's pace
    (with 32 threads and one GIL, CPU per item x items per second must stay well under 1)."""
    return f"{wall * share / ITEMS * 1000:.2f} ms of CPU per item"


def most_in_flight(base_url: str) -> int:
    """The most model requests the emulator had in flight at once since its last reset."""
    root = base_url.rsplit("/client/v4", 1)[0]
    return int(httpx.get(f"{root}/_emulator/stats").json()["most_in_flight"])


def plain_threads(base_url: str, emulator: bool = True) -> float:
    """The floor: 32 threads posting the same requests with httpx, no map at all."""
    from concurrent.futures import ThreadPoolExecutor

    if emulator:
        root = base_url.rsplit("/client/v4", 1)[0]
        httpx.post(f"{root}/_emulator/reset")
        httpx.post(f"{root}/_emulator/load", json={"latency": LATENCY_S})
    url = f"{base_url}/accounts/test-account/ai/run/@cf/moonshotai/kimi-k2.6"
    headers = {"Authorization": "Bearer test-token"}
    with httpx.Client() as client:

        def one(i: int) -> None:
            body = {"messages": [{"role": "user", "content": f"Label item number {i}"}]}
            for attempt in range(3):  # as map would: a reset connection is tried again
                try:
                    reply = client.post(url, json={**body, "stream": False}, headers=headers)
                    reply.raise_for_status()
                    return
                except httpx.TransportError:
                    if attempt == 2:
                        raise

        start = time.perf_counter()
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(one, range(ITEMS)))
        return time.perf_counter() - start


def against_a_lean_server() -> tuple[float, float]:
    """map and plain httpx against benchmarks/lean_server.py: the client's own pace, with a
    server that costs this machine almost nothing (as Cloudflare would)."""
    script = Path(__file__).resolve().parent / "lean_server.py"
    process = subprocess.Popen(
        [sys.executable, str(script), str(LATENCY_S)], stdout=subprocess.PIPE, text=True
    )
    try:
        if process.stdout is None:
            raise RuntimeError("the lean server gave no output")
        port = process.stdout.readline().split()[1]
        base_url = f"http://127.0.0.1:{port}/client/v4"
        timed_map(base_url, None)  # warm-up
        wall, _, result = timed_map(base_url, None)
        if result.summary.done != ITEMS:
            raise RuntimeError(f"the map against the lean server: {result.summary}")
        return wall, plain_threads(base_url, emulator=False)
    finally:
        process.terminate()
        process.wait()


KERNEL_MAP = """
import kimi_magic
out = kimi_magic.map([f"item number {{i}}" for i in range({items})], "Label {{item}}",
                     instruction="Answer with one word.", concurrency={concurrency},
                     checkpoint=False)
assert out.summary.done == {items}, out.summary
"""


def in_a_kernel(base_url: str) -> tuple[float, float]:
    """The same map in a real Jupyter kernel (progress bar on): wall seconds, kernel CPU share."""
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
    from kernel_session import KernelSession

    root = base_url.rsplit("/client/v4", 1)[0]
    httpx.post(f"{root}/_emulator/reset")
    httpx.post(f"{root}/_emulator/load", json={"latency": LATENCY_S})
    env = {
        "KIMI_MAGIC_BASE_URL": base_url,
        "CLOUDFLARE_ACCOUNT_ID": "test-account",
        "CLOUDFLARE_API_TOKEN": "test-token",
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1]), *sys.path]),
    }
    code = KERNEL_MAP.format(items=ITEMS, concurrency=CONCURRENCY)
    with KernelSession(env) as kernel:
        warm_up = KERNEL_MAP.format(items=CONCURRENCY * 2, concurrency=CONCURRENCY)
        kernel.run(warm_up)  # imports and first connections are not the map's pace
        cpu = kernel.cpu_seconds()
        run = kernel.run(code, timeout=120)
        assert not run.errors, run.errors
        wall = run.ended - run.started
        return wall, (kernel.cpu_seconds() - cpu) / wall


class InstantRequester:
    """Answers at once, in-process: what is left is map's own bookkeeping."""

    def __call__(self, item: Any) -> Answer:
        return Answer(text=f"label {item.index}", usage=Usage(30, 16, 2))

    def stop_all(self) -> None:
        pass


def bookkeeping(trace: bool) -> tuple[float, float]:
    """Peak traced memory (MB, when `trace`) and seconds for BIG lazily made items."""
    from kimi_magic.scale import engine, run

    def items() -> Any:
        return (f"row {i} " + "x" * 200 for i in range(BIG))  # 200-char rows, made lazily

    with tempfile.TemporaryDirectory() as folder:
        checkpoint = Path(folder) / "job.jsonl"
        from kimi_magic.scale.job import checkpoint_for, job_spec
        from kimi_magic.scale.progress import NoProgress
        from kimi_magic.scale.source import source_of

        spec = job_spec("Label {item}", "One word.", None, None, {}, "native", "m")
        store = checkpoint_for(spec, checkpoint)
        limits = engine.Limits(CONCURRENCY, 3)
        if trace:
            tracemalloc.start()
        start = time.perf_counter()
        result = run._threaded(
            source_of(items()),
            spec,
            InstantRequester(),
            store,
            store.load(),
            NoProgress(),
            limits,
            True,
        )
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory() if trace else (0, 0)
        tracemalloc.stop()
        assert len(result) == BIG and result[-1] == f"label {BIG - 1}"
    return peak / 1e6, seconds


def main() -> None:
    process, base_url = start_emulator()
    try:
        timed_map(base_url, {})  # warm-up: imports and first connections are not the map's pace
        floor = plain_threads(base_url)
        wall, share, result = timed_map(base_url, {"latency": LATENCY_S})
        assert result.summary.done == ITEMS, result.summary
        print(
            f"{ITEMS:,} items, {LATENCY_S * 1000:.0f} ms latency, concurrency {CONCURRENCY}: "
            f"{wall:.2f} s against the ideal {IDEAL_S:.3f} s = {IDEAL_S / wall:.1%} of ideal; "
            f"this process used {share:.0%} of one core meanwhile ({per_item(wall, share)}); "
            f"at most {most_in_flight(base_url)} requests in flight at the server (plain httpx "
            f"on 32 threads, no map, against the same emulator: {floor:.2f} s = "
            f"{IDEAL_S / floor:.1%})"
        )
        session = Session(connection=dict(CONNECTION, base_url=base_url))
        session.configure(max_cost=100.0)  # a cap, so every launch checks the ledger
        try:
            wall, share, result = timed_map(base_url, {"latency": LATENCY_S}, session)
        finally:
            session.close()
        assert result.summary.done == ITEMS, result.summary
        assert session.ledger.total.calls == ITEMS
        print(
            f"the same in a Session with a spending cap (as a notebook's): {wall:.2f} s = "
            f"{IDEAL_S / wall:.1%} of ideal; {share:.0%} of one core ({per_item(wall, share)}); "
            "the ledger counted "
            f"{session.ledger.total.calls:,} calls, ${session.ledger.total.cost:.4f}"
        )
        kernel_wall, kernel_share = in_a_kernel(base_url)
        print(
            f"the same in a real Jupyter kernel (widget progress bar): {kernel_wall:.2f} s = "
            f"{IDEAL_S / kernel_wall:.0%} of ideal; the kernel used {kernel_share:.0%} of one "
            "core meanwhile"
        )
        lean_map, lean_plain = against_a_lean_server()
        print(
            f"against a minimal asyncio server (benchmarks/lean_server.py, ~0.2 ms CPU a "
            f"request): map {lean_map:.2f} s = {IDEAL_S / lean_map:.1%} of ideal; plain httpx "
            f"on 32 threads {lean_plain:.2f} s = {IDEAL_S / lean_plain:.1%}"
        )
        load = {"latency": LATENCY_S, "rate_limited": 0.2, "seed": 7}
        wall, share, result = timed_map(base_url, load)
        assert result.summary.done == ITEMS, result.summary
        print(
            f"the same with 20% answered 429: {wall:.2f} s = {IDEAL_S / wall:.0%} of ideal; "
            f"{share:.0%} of one core"
        )
    finally:
        process.terminate()
        process.wait()
    peak, _ = bookkeeping(trace=True)
    _, seconds = bookkeeping(trace=False)
    print(
        f"{BIG:,} items (lazy input, in-process answers, checkpoint on): peak traced memory "
        f"{peak:.1f} MB; without tracing {seconds:.1f} s = {BIG / seconds:,.0f} items/s of "
        "map's own bookkeeping"
    )
    print(f"(load average while measuring: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores)")


if __name__ == "__main__":
    main()
