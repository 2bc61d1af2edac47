"""map and batch jobs inside a session: its spending cap refuses or stops them, its ledger
counts them, single-pass input is read once for a batch, concurrency is never exceeded
(counted by the server), a bad source is one paragraph, and the result types."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

import kimi_magic
from kimi_magic.core.errors import ConfigurationError, SpendingCapError
from kimi_magic.emulator import Emulator
from kimi_magic.scale.estimate import Estimate
from kimi_magic.scale.output import MapResult
from kimi_magic.session.session import Session

pd = pytest.importorskip("pandas")


@pytest.fixture
def connect(emulator_connection: dict[str, Any]) -> dict[str, Any]:
    return {**emulator_connection, "progress": False, "checkpoint": False}


@pytest.fixture
def session(emulator_connection: dict[str, Any]) -> Iterator[Session]:
    made = Session(connection=emulator_connection)
    yield made
    made.close()


QUIET = {"progress": False, "checkpoint": False}


def model_requests(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests if (r["json"] or {}).get("messages")]


def test_a_session_at_its_cap_refuses_a_map_before_sending_anything(
    emulator: Emulator, session: Session
) -> None:
    session.configure(max_cost=0.000001)
    session.ask("hello")  # spends more than the cap
    sent = len(emulator.requests)
    with pytest.raises(SpendingCapError) as caught:
        kimi_magic.map(["a", "b", "c", "d"], "Echo {item}", session=session, **QUIET)
    assert "spending cap" in str(caught.value) and "nothing was sent" in str(caught.value)
    with pytest.raises(SpendingCapError):
        kimi_magic.batch_submit(["a", "b"], "Echo {item}", session=session, **QUIET)
    assert len(emulator.requests) == sent  # not one more request


def test_a_map_that_would_cross_the_sessions_cap_stops_at_it(
    emulator: Emulator, session: Session
) -> None:
    session.configure(max_cost=0.01)
    items = [f"thing {i}" for i in range(200)]
    out = kimi_magic.map(items, "Describe {item}", session=session, concurrency=4, **QUIET)

    kept = [text for text in out if text is not None]
    assert 0 < len(kept) < 200
    assert "session's spending cap" in out.summary.stopped
    assert session.ledger.total.cost <= 0.01
    assert len(model_requests(emulator)) == len(kept)  # everything paid for is returned


def test_map_and_batch_jobs_are_counted_in_the_sessions_ledger(
    emulator: Emulator, session: Session
) -> None:
    instruction = "You label things with one word. " * 20
    mapped = kimi_magic.map(
        [f"m{i}" for i in range(6)], "{item}", instruction=instruction, session=session, **QUIET
    )
    batched = kimi_magic.map(
        [f"b{i}" for i in range(5)],
        "{item}",
        batch=True,
        session=session,
        poll_interval=0.01,
        **QUIET,
    )
    tallies = session.ledger.by_conversation
    [map_label] = [name for name in tallies if name.startswith("map ")]
    [batch_label] = [name for name in tallies if name.startswith("batch ")]
    assert tallies[map_label].calls == 6 and tallies[batch_label].calls == 5
    assert tallies[map_label].cost == pytest.approx(mapped.summary.cost)
    assert tallies[batch_label].cost == pytest.approx(batched.summary.cost)
    assert batched.summary.cost > 0
    assert tallies[map_label].usage.cached_tokens == mapped.summary.cached_tokens > 0
    table = session.ledger.markdown()
    assert map_label in table and batch_label in table


@pytest.mark.parametrize("via", ["map", "batch_submit"])
def test_a_generator_in_a_batch_is_read_once_and_every_item_comes_back(
    emulator: Emulator, connect: dict[str, Any], via: str
) -> None:
    rows = (f"q{i}" for i in range(7))
    if via == "map":
        out = kimi_magic.map(rows, "Echo {item}", batch=True, poll_interval=0.01, **connect)
    else:
        job = kimi_magic.batch_submit(rows, "Echo {item}", poll_interval=0.01, **connect)
        out = kimi_magic.batch_results(job)
    assert len(out) == 7 and not out.errors
    assert all(f"Echo q{i}" in text for i, text in enumerate(out))
    assert out.summary.done == 7 and "7 of 7 items answered" in str(out.summary)
    [submitted] = [r for r in emulator.requests if r["query"].get("queueRequest") == "true"]
    assert len(submitted["json"]["requests"]) == 7  # paid for seven, returned seven


@pytest.mark.parametrize("refused", [0.0, 0.25])
def test_map_never_has_more_requests_in_flight_than_its_concurrency(
    emulator_connection: dict[str, Any], refused: float
) -> None:
    # An emulator of its own: the session's shared one may still hold a stalled request of an
    # earlier test, which its in-flight count would include.
    with Emulator(token=emulator_connection["api_token"]) as own:
        own.configure_load(latency=0.03, rate_limited=refused, seed=5)
        connection = {
            **emulator_connection,
            "base_url": own.base_url,
            "account_id": own.account_id,
        }
        session = Session(connection=connection)
        try:
            items = [f"row {i}" for i in range(240)]
            out = kimi_magic.map(items, "Echo {item}", session=session, concurrency=6, **QUIET)
        finally:
            session.close()
        assert out.summary.done == 240
        # Counted by the server, from each request read to its response starting.
        assert 2 <= own.load.most_in_flight <= 6


@pytest.mark.parametrize(
    ("source", "named"),
    [(5, "not a int"), ({"a": 1, "b": 2}, "not a dict"), (None, "not None"), ("text", "[text]")],
)
def test_a_bad_source_is_one_paragraph_and_nothing_is_sent(
    emulator: Emulator, connect: dict[str, Any], source: Any, named: str
) -> None:
    with pytest.raises(ConfigurationError) as caught:
        kimi_magic.map(source, "Echo {item}", **connect)
    message = str(caught.value)
    assert named in message and "nothing was sent" in message and "\n" not in message
    assert emulator.requests == []


def test_a_list_gives_a_map_result_with_its_summary_and_estimate(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    out = kimi_magic.map(["cat", "owl"], "One word for {item}", **connect)
    assert isinstance(out, MapResult) and isinstance(out, list) and len(out) == 2
    assert out.summary.done == 2 and out.summary.cost > 0 and out.errors == {}
    assert isinstance(out.estimate, Estimate) and out.estimate.items == 2
    frame = out.to_frame()
    assert list(frame.columns) == ["answer", "error"] and "owl" in frame.loc[1, "answer"]


def test_a_dataframe_gives_a_frame_that_joins_and_keeps_its_summary(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    from kimi_magic.scale.frame import MapFrame

    reviews = pd.DataFrame({"text": ["great", "awful"]}, index=["r1", "r2"])
    out = kimi_magic.map(reviews, "Sentiment of {text}", **connect)
    assert isinstance(out, MapFrame) and isinstance(out, pd.DataFrame)
    assert out.summary.done == 2 and out.estimate is not None and out.errors == {}
    joined = reviews.join(out)
    assert list(joined.columns) == ["text", "answer", "error"]
    assert "awful" in joined.loc["r2", "answer"]
    assert type(joined) is pd.DataFrame  # a join is a plain frame


def test_a_dry_run_is_the_estimate_and_sends_nothing(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    told = kimi_magic.map(["a", "b", "c"], "{item}", dry_run=True, **connect)
    assert isinstance(told, Estimate) and told.items == 3
    assert emulator.requests == []
