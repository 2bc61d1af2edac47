"""The map core: requests on a bounded, adaptive pool of threads, results as they finish.

Written once for any `Requester` (a client, a replay file, a test double): it launches work
while the limit allows, backs off on 429 / 3040, retries with the client's retry policy,
records an item that still fails instead of raising, and stops launching on Stop, an
interrupt or the cost cap while keeping every finished result. The calling thread stays the
dispatcher, so a kernel interrupt lands there and progress is drawn from there.
"""

from __future__ import annotations

import heapq
import queue
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any, Protocol

from ..api.retry import retry_delay, should_retry
from ..core.answer import Answer
from ..core.errors import APIStatusError, KimiError
from .limiter import AdaptiveLimit
from .state import JobState

# How long the dispatcher waits for a result before it looks at Stop, retries and progress.
TICK_S = 0.05
# retry_delay's exponent stops here for one item: 0.5 s, then about 1 s per retry.
MAX_ITEM_BACKOFF_STEP = 1
RATE_LIMIT_CODES = frozenset({3040})
RATE_LIMIT_STATUSES = frozenset({429})


@dataclass
class WorkItem:
    """One request to make: the item's position, its request digest, and its messages."""

    index: int
    key: str
    messages: list[dict[str, Any]]
    attempts: int = 0


class Requester(Protocol):
    """Runs one request and returns the whole answer, or raises a KimiError."""

    def __call__(self, item: WorkItem) -> Answer: ...

    def stop_all(self) -> None: ...


class Listener(Protocol):
    """Where results and progress go (the job keeps the checkpoint and the results)."""

    def on_answer(self, item: WorkItem, answer: Answer) -> bool:
        """Keep a finished answer; False when it is unusable (e.g. not the schema asked for)."""
        ...

    def on_failure(self, item: WorkItem, message: str) -> None: ...

    def on_tick(self, state: JobState) -> bool:
        """Draw progress; True when the user asked to stop."""
        ...


@dataclass
class Limits:
    """How much may run at once, how often an item is retried, and the spending caps: the
    job's own (`max_cost`) and the session's (`room` says what it may still spend)."""

    concurrency: int
    max_retries: int
    max_cost: float | None = None
    item_cost_estimate: float = 0.0  # for the caps, before any item has finished
    room: Callable[[], float | None] | None = None  # USD the session may still spend
    session_cap: float | None = None  # the session's cap, for the stop message


def run(
    work: Iterator[WorkItem],
    requester: Requester,
    listener: Listener,
    limits: Limits,
    state: JobState,
    stop: threading.Event | None = None,
) -> JobState:
    """Run every item of `work`; returns the final state (never raises for an item). `stop`
    set (from any thread) ends the job as an interrupt does."""
    limit = AdaptiveLimit(limits.concurrency)
    dispatcher = _Dispatcher(work, requester, listener, limits, state, limit)
    if stop is not None:
        dispatcher.interrupted = stop
    pool = ThreadPoolExecutor(limits.concurrency, thread_name_prefix="kimi-map")
    try:
        with interrupts_stop(dispatcher.interrupted):
            dispatcher.loop(pool)
    except KeyboardInterrupt:  # the second interrupt: stop waiting for what is in flight
        state.stopped = state.stopped or "interrupt"
        requester.stop_all()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    return state


@contextmanager
def interrupts_stop(flag: threading.Event) -> Iterator[None]:
    """While a job runs, the kernel's interrupt (SIGINT) sets `flag` instead of raising
    wherever the main thread happens to be (inside a lock of the pool, a first import...);
    a second interrupt raises KeyboardInterrupt as usual. Elsewhere than the main thread,
    nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.getsignal(signal.SIGINT)
    restore = previous if previous is not None else signal.default_int_handler

    def on_interrupt(signum: int, frame: FrameType | None) -> None:
        if flag.is_set():
            signal.signal(signal.SIGINT, restore)
            raise KeyboardInterrupt
        flag.set()

    signal.signal(signal.SIGINT, on_interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, restore)


class _Dispatcher:
    """The job's bookkeeping, on the calling thread, and the slots that send requests.

    A slot is one pool thread that sends an item and, when it is answered, takes the next
    ready item itself, so the next request goes out at once: with the dispatcher handing out
    every item, each answer waited for two thread wake-ups under the GIL before its slot was
    busy again, which cost about 2% of a 1,000-item job's time (benchmarks/bench_map.py). The
    dispatcher settles what came back (retries, the limit, the caps, the results), keeps
    `ready` topped up with built items, and opens slots while the limit allows. `lock` guards
    the counters both sides touch; nothing slow runs under it (building items, the
    checkpoint and progress happen outside).
    """

    def __init__(
        self,
        work: Iterator[WorkItem],
        requester: Requester,
        listener: Listener,
        limits: Limits,
        state: JobState,
        limit: AdaptiveLimit,
    ) -> None:
        self.work = work
        self.requester = requester
        self.listener = listener
        self.limits = limits
        self.state = state
        self.limit = limit
        self.lock = threading.Lock()
        # Built items waiting for a slot, at most a concurrency's worth (the input stays lazy).
        self.ready: deque[WorkItem] = deque()
        self.unsettled = 0  # launched and not yet settled: sent, or answered and queued
        # Answers (or errors) arrive here from the slots, so collecting one costs O(1).
        self.finished: queue.SimpleQueue[tuple[WorkItem, Answer | None, BaseException | None]]
        self.finished = queue.SimpleQueue()
        self.retries: list[tuple[float, int, WorkItem]] = []  # (ready at, index, item)
        self.exhausted = False
        self.interrupted = threading.Event()

    def loop(self, pool: ThreadPoolExecutor) -> None:
        while True:
            now = time.monotonic()
            if self.interrupted.is_set() and not self.state.stopped:
                self.state.stopped = "interrupt"
            if not self.state.stopped:
                self._fill(now)
                self._launch(pool, now)
            with self.lock:
                unsettled, waiting = self.unsettled, bool(self.ready)
            if not unsettled and (
                self.state.stopped or (self.exhausted and not self.retries and not waiting)
            ):
                break
            self._collect(TICK_S)
            if self.listener.on_tick(self._snapshot()) and not self.state.stopped:
                self.state.stopped = "Stop"
        self._finish_tick()

    def _finish_tick(self) -> None:
        self.retries.clear()  # stopped: the items waiting to be retried are simply not sent
        self.listener.on_tick(self._snapshot())

    def _snapshot(self) -> JobState:
        with self.lock:
            self.state.in_flight = self.limit.in_flight
            self.state.limit = self.limit.limit
        self.state.retrying = len(self.retries)
        return self.state

    def _fill(self, now: float) -> None:
        """Top `ready` up to a concurrency's worth: retries whose wait is over first, then new
        items."""
        while self.retries and self.retries[0][0] <= now:
            item = heapq.heappop(self.retries)[2]
            with self.lock:
                self.ready.appendleft(item)
        while not self.exhausted and len(self.ready) < self.limit.maximum:
            try:
                item = next(self.work)
            except StopIteration:
                self.exhausted = True
                return
            with self.lock:
                self.ready.append(item)

    def _launch(self, pool: ThreadPoolExecutor, now: float) -> None:
        """Open slots while the limit allows and items are ready."""
        while True:
            with self.lock:
                item = self._take(now)
            if item is None:
                return
            pool.submit(self._slot, item)

    def _take(self, now: float) -> WorkItem | None:
        """The next item to send, counted as launched; None when nothing may be sent now.
        Called with `lock` held, by the dispatcher and by a slot whose item was answered."""
        if self.state.stopped or self.interrupted.is_set() or not self.ready:
            return None
        if not self.limit.can_launch(now):
            return None
        over = self._over_budget()
        if over:
            self.state.stopped = over
            return None
        item = self.ready.popleft()
        item.attempts += 1
        self.limit.launched()
        self.unsettled += 1
        return item

    def _slot(self, item: WorkItem | None) -> None:
        """Send items one after another until none may be sent (runs on a pool thread)."""
        while item is not None:
            answer: Answer | None = None
            error: BaseException | None = None
            try:
                answer = self.requester(item)
            except BaseException as exc:  # settled (and reported) by the dispatcher
                error = exc
            with self.lock:
                self.limit.finished()
                self.finished.put((item, answer, error))
                item = self._take(time.monotonic())

    def _over_budget(self) -> str:
        """Why launching one more item would cross a cap ("" when it would not)."""
        cap, room = self.limits.max_cost, self.limits.room
        if cap is None and room is None:
            return ""
        finished = self.state.done + self.state.failed
        per_item = self.state.cost / finished if finished else self.limits.item_cost_estimate
        # What is in flight (or answered, not yet counted) will be paid too: count it first.
        ahead = per_item * (self.unsettled + 1)
        if cap is not None and self.state.cost + ahead > cap:
            return f"cost cap ${cap:g}"
        left = room() if room is not None else None  # the ledger counts what finished
        if left is not None and ahead > left:
            return f"the session's spending cap ${self.limits.session_cap or 0:g}"
        return ""

    def _collect(self, timeout: float) -> None:
        with self.lock:
            unsettled = self.unsettled
        if not unsettled:
            ready = self.retries[0][0] - time.monotonic() if self.retries else timeout
            time.sleep(min(max(ready, 0.0), timeout))
            return
        try:
            done = [self.finished.get(timeout=timeout)]
        except queue.Empty:
            return
        while True:  # whatever else finished meanwhile, without waiting
            try:
                done.append(self.finished.get_nowait())
            except queue.Empty:
                break
        for item, answer, error in done:
            self._settle(item, answer, error)

    def _settle(self, item: WorkItem, answer: Answer | None, error: BaseException | None) -> None:
        now = time.monotonic()
        try:
            self._keep(item, answer, error, now)
        finally:
            with self.lock:
                self.unsettled -= 1

    def _keep(
        self, item: WorkItem, answer: Answer | None, error: BaseException | None, now: float
    ) -> None:
        if isinstance(error, KimiError):
            if should_retry(error) and item.attempts <= self.limits.max_retries:
                retry_after = getattr(error, "retry_after", None)
                if _rate_limited(error):
                    with self.lock:
                        self.limit.throttled(now, retry_after)
                # The limiter slows the whole job down; one item's own backoff stays short,
                # or a few unlucky items would hold the end of a long job for seconds.
                backoff = min(item.attempts - 1, MAX_ITEM_BACKOFF_STEP)
                ready = now + retry_delay(backoff, retry_after)
                heapq.heappush(self.retries, (ready, item.index, item))
                return
            self._fail(item, str(error))
            return
        if error is not None:  # a bug must not end the job and lose what finished
            self._fail(item, f"{type(error).__name__}: {error}")
            return
        if answer is None or answer.interrupted:
            return  # stopped mid-answer: not finished, so a rerun sends it again
        with self.lock:
            self.limit.succeeded()
            self.state.usage = self.state.usage + answer.usage
        try:
            kept = self.listener.on_answer(item, answer)
        except Exception as error:  # e.g. a validator's bug: this row fails, the job goes on
            self._fail(item, f"The answer could not be kept ({type(error).__name__}: {error}).")
            return
        with self.lock:
            if kept:
                self.state.done += 1
            else:
                self.state.failed += 1

    def _fail(self, item: WorkItem, message: str) -> None:
        with self.lock:
            self.state.failed += 1
        self.listener.on_failure(item, message)


def _rate_limited(error: KimiError) -> bool:
    return isinstance(error, APIStatusError) and (
        error.status in RATE_LIMIT_STATUSES or error.code in RATE_LIMIT_CODES
    )
