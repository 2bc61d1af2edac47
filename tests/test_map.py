"""kimi_magic.map against the emulator: alignment, 429s, schema columns, cost cap, Stop,
checkpoint resume, lazy input, the shared instruction and one session affinity per job."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.core.errors import ConfigurationError
from kimi_magic.emulator import Emulator
from kimi_magic.scale.estimate import Estimate
from kimi_magic.scale.progress import NoProgress
from kimi_magic.scale.state import JobState

pd = pytest.importorskip("pandas")


@pytest.fixture
def connect(emulator_connection: dict[str, Any]) -> dict[str, Any]:
    return {**emulator_connection, "progress": False}


def answered(emulator: Emulator) -> list[dict[str, Any]]:
    """The requests the emulator answered (not the injected 429 / 3040 refusals)."""
    return [r for r in emulator.requests if not r.get("refused")]


def user_text(request: dict[str, Any]) -> str:
    return str(request["json"]["messages"][-1]["content"])


def test_a_thousand_items_with_a_fifth_refused_all_complete_once_and_in_order(
    emulator: Emulator, connect: dict[str, Any], schema_checked: None
) -> None:
    emulator.configure_load(rate_limited=0.2, seed=11)
    items = [f"item-{i:04d}" for i in range(1000)]
    out = kimi_magic.map(items, "Echo {item}", concurrency=32, checkpoint=False, **connect)

    assert len(out) == 1000 and not out.errors
    assert all(f"Echo item-{i:04d}" in text for i, text in enumerate(out))  # order kept
    sent = sorted(user_text(r) for r in answered(emulator))
    assert sent == sorted(f"Echo {item}" for item in items)  # none lost, none answered twice
    assert emulator.load.refused > 100  # the 429s / 3040s really happened, and were retried
    assert len(emulator.requests) == 1000 + emulator.load.refused
    assert out.summary.done == 1000 and out.summary.failed == 0


def test_out_of_capacity_answers_200_plus_3040_are_retried_too(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    emulator.configure_load(capacity=0.3, seed=4)
    out = kimi_magic.map([f"n{i}" for i in range(100)], "Echo {item}", checkpoint=False, **connect)
    assert not out.errors and all(f"Echo n{i}" in t for i, t in enumerate(out))
    assert emulator.load.refused > 10 and len(answered(emulator)) == 100


def test_a_dataframe_gets_schema_columns_with_its_own_index(
    emulator: Emulator, connect: dict[str, Any], schema_checked: None
) -> None:
    reviews = pd.DataFrame(
        {"text": ["great", "awful", "fine"], "stars": [5, 1, 3]}, index=["r1", "r2", "r3"]
    )
    schema = {
        "type": "object",
        "properties": {"sentiment": {"type": "string"}, "score": {"type": "integer"}},
        "required": ["sentiment", "score"],
    }
    out = kimi_magic.map(reviews, "{text} ({stars} stars)", schema=schema, **connect)

    assert list(out.index) == ["r1", "r2", "r3"]
    assert list(out.columns) == ["sentiment", "score", "error"]
    assert out.loc["r2", "sentiment"].endswith("awful (1 stars)")  # row r2's own answer
    assert out["error"].isna().all()
    bodies = [r["json"] for r in emulator.requests]
    assert all(b["response_format"]["type"] == "json_schema" for b in bodies)


def test_an_answer_off_the_schema_is_an_error_in_its_row_not_an_exception(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    emulator.script({"content": "not json at all"})
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    out = kimi_magic.map(
        pd.Series([1, 2, 3]), "Count {item}", schema=schema, concurrency=1, **connect
    )

    assert pd.isna(out.loc[0, "n"]) and "not valid JSON" in out.loc[0, "error"]
    assert out.loc[1, "n"] == 1 and out.loc[2, "n"] == 1 and pd.isna(out.loc[2, "error"])


def test_a_request_that_keeps_failing_is_recorded_and_the_job_goes_on(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 400, "code": 8001}})
    out = kimi_magic.map(["a", "b", "c"], "Say {item}", concurrency=1, **connect)

    assert out[0] is None and "invalid input" in out.errors[0]
    assert "Say b" in out[1] and "Say c" in out[2]
    assert out.summary.failed == 1 and out.summary.done == 2


def test_the_instruction_goes_first_and_one_affinity_serves_the_whole_job(
    emulator: Emulator, connect: dict[str, Any], schema_checked: None
) -> None:
    instruction = "You label animals with one word. " * 20
    out = kimi_magic.map(
        ["cat", "dog", "eel", "owl"], "{item}", instruction=instruction, concurrency=1, **connect
    )

    requests = emulator.requests
    system = {"role": "system", "content": instruction}
    assert all(r["json"]["messages"][0] == system for r in requests)
    affinities = {r["headers"].get("x-session-affinity") for r in requests}
    assert len(affinities) == 1 and None not in affinities
    assert out.summary.cached_tokens > 0 and out.summary.cached_savings > 0
    assert "cached" in str(out.summary)
    # In markdown a bare `$` starts LaTeX math: the rendered summary must escape it.
    markdown = out.summary._repr_markdown_()
    assert "&#36;" in markdown and "$" not in markdown and "mathjax_ignore" in markdown


def test_dry_run_tells_tokens_and_cost_and_sends_nothing(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    told = kimi_magic.map(
        [f"row {i}" for i in range(300)],
        "Classify {item}",
        dry_run=True,
        max_completion_tokens=50,
        **connect,
    )

    assert isinstance(told, Estimate) and told.items == 300
    assert told.usage.completion_tokens == 300 * 50 and told.cost > 0
    assert "300 items" in str(told) and "$" in str(told)
    assert emulator.requests == []


def test_the_cost_cap_stops_launching_and_keeps_what_finished(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    items = [f"thing {i}" for i in range(200)]
    out = kimi_magic.map(items, "Describe {item}", job_max_cost=0.01, concurrency=4, **connect)

    kept = [text for text in out if text is not None]
    assert 0 < len(kept) < 200
    assert len(answered(emulator)) == len(kept)  # everything paid for is in the result
    assert out.summary.cost <= 0.01
    assert "cost cap" in out.summary.stopped
    assert all("not sent" in out.errors[i] for i, text in enumerate(out) if text is None)


class StopAfter(NoProgress):
    """What a Stop click does, once `count` items are done."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count

    def tick(self, state: JobState) -> bool:
        if state.done >= self.count:
            self.stop_requested.set()
        return super().tick(state)


def test_stop_keeps_every_finished_result_and_a_rerun_sends_only_the_rest(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    emulator.configure_load(latency=0.02)
    items = [f"thing {i}" for i in range(120)]
    checkpoint = tmp_path / "job.jsonl"
    common = {**connect, "checkpoint": checkpoint, "concurrency": 4}
    first = kimi_magic.map(items, "Describe {item}", **{**common, "progress": StopAfter(20)})

    kept = {i for i, text in enumerate(first) if text is not None}
    assert 20 <= len(kept) < 120 and first.summary.stopped == "Stop"
    assert len(answered(emulator)) == len(kept)
    assert len(checkpoint.read_text().splitlines()) == len(kept)

    emulator.reset()
    second = kimi_magic.map(items, "Describe {item}", **common)
    resent = sorted(user_text(r) for r in emulator.requests)
    assert resent == sorted(f"Describe {items[i]}" for i in range(120) if i not in kept)
    assert all(f"Describe thing {i}" in text for i, text in enumerate(second))
    assert second.summary.resumed == len(kept)


def test_a_changed_row_is_sent_again_the_others_come_from_the_checkpoint(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    frame = pd.DataFrame({"name": ["ada", "bob", "cy"]})
    kimi_magic.map(frame, "Hello {name}", checkpoint=tmp_path / "c.jsonl", **connect)
    emulator.reset()
    frame.loc[1, "name"] = "bea"
    out = kimi_magic.map(frame, "Hello {name}", checkpoint=tmp_path / "c.jsonl", **connect)

    assert [user_text(r) for r in emulator.requests] == ["Hello bea"]
    assert "Hello bea" in out.loc[1, "answer"] and "Hello cy" in out.loc[2, "answer"]


def test_input_is_read_lazily(emulator: Emulator, connect: dict[str, Any]) -> None:
    pulled = []

    def rows() -> Iterator[str]:
        for i in range(400):
            pulled.append(i)
            yield f"row {i}"

    class Watch(NoProgress):
        most_ahead = 0

        def tick(self, state: JobState) -> bool:
            Watch.most_ahead = max(Watch.most_ahead, len(pulled) - state.finished)
            return False

    out = kimi_magic.map(
        rows(), "{item}", concurrency=8, checkpoint=False, **{**connect, "progress": Watch()}
    )
    assert len(out) == 400 and out[399] is not None
    # In flight, built and waiting for a free slot (a concurrency's worth each), and the one
    # being built: never the whole input.
    assert Watch.most_ahead <= 8 + 8 + 1


def test_a_template_naming_a_missing_column_is_refused_before_anything_is_sent(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    frame = pd.DataFrame({"review": ["ok"], "stars": [3]})
    with pytest.raises(ConfigurationError) as caught:
        kimi_magic.map(frame, "Rate {reveiw}", **connect)
    assert "{reveiw}" in str(caught.value) and "{review}" in str(caught.value)
    assert emulator.requests == []


def test_the_token_is_in_no_output_summary_or_checkpoint(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    emulator.script({"fault": {"type": "http_error", "status": 401}})
    out = kimi_magic.map(["a", "b"], "{item}", checkpoint=tmp_path / "c.jsonl", **connect)
    everything = (
        json.dumps([list(out), out.errors, str(out.summary)]) + (tmp_path / "c.jsonl").read_text()
    )
    assert emulator.token not in everything
    assert out.errors  # the 401 is recorded in its row


class InterruptAfter(NoProgress):
    """What the kernel's interrupt (SIGINT) does, once `count` items are done."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.sent = False

    def tick(self, state: JobState) -> bool:
        if state.done >= self.count and not self.sent:
            self.sent = True
            signal.raise_signal(signal.SIGINT)
        return super().tick(state)


def test_an_interrupt_stops_launching_keeps_results_and_restores_the_handler(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    emulator.configure_load(latency=0.02)
    before = signal.getsignal(signal.SIGINT)
    items = [f"thing {i}" for i in range(150)]
    out = kimi_magic.map(
        items,
        "{item}",
        concurrency=4,
        checkpoint=False,
        **{**connect, "progress": InterruptAfter(15)},
    )

    kept = [text for text in out if text is not None]
    assert out.summary.stopped == "interrupt" and 15 <= len(kept) < 150
    assert len(answered(emulator)) == len(kept)
    assert signal.getsignal(signal.SIGINT) is before


def test_the_magic_form_maps_a_notebook_variable_and_names_a_typo(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    from kimi_magic.scale.run import map_cell

    namespace = {"animals": ["cat", "owl"]}
    out = map_cell(namespace, "animals", "One fact about {item}", **connect)
    assert "One fact about owl" in out[1]
    with pytest.raises(ConfigurationError) as caught:
        map_cell(namespace, "aminals", "{item}", **connect)
    assert "Did you mean 'animals'" in str(caught.value) and "nothing was sent" in str(caught.value)


def test_the_notebooks_session_settings_apply_to_a_map(
    emulator: Emulator, connect: dict[str, Any], schema_checked: None
) -> None:
    from kimi_magic.session.session import Session

    progress = connect.pop("progress")
    session = Session(connection=connect)
    session.configure(temperature=0.3, system="You answer in French.")
    try:
        out = kimi_magic.map(
            ["chat", "chien"], "{item}", session=session, progress=progress, checkpoint=False
        )
    finally:
        session.close()
    bodies = [r["json"] for r in emulator.requests]
    assert len(out) == 2 and all(b["temperature"] == 0.3 for b in bodies)
    assert all(
        b["messages"][0] == {"role": "system", "content": "You answer in French."} for b in bodies
    )
