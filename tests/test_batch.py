"""map on Cloudflare's async batch against the emulator: submit, poll, input order, per-item
failures, both result shapes, resume from saved request ids, payloads split under 10 MB."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import kimi_magic
from kimi_magic.api.batch import MAX_PAYLOAD_BYTES, parse_poll
from kimi_magic.emulator import Emulator
from kimi_magic.scale.progress import NoProgress
from kimi_magic.scale.state import JobState


@pytest.fixture
def connect(emulator_connection: dict[str, Any]) -> dict[str, Any]:
    return {**emulator_connection, "progress": False, "poll_interval": 0.01}


def submissions(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests if r["query"].get("queueRequest") == "true"]


def polls(emulator: Emulator) -> list[dict[str, Any]]:
    return [r for r in emulator.requests if "request_id" in (r["json"] or {})]


class Phases(NoProgress):
    """Records the phases the progress view was shown."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def tick(self, state: JobState) -> bool:
        if not self.seen or self.seen[-1] != state.phase:
            self.seen.append(state.phase)
        return False


def test_batch_results_come_back_in_input_order_with_both_result_shapes(
    emulator: Emulator,
    connect: dict[str, Any],
    validate_request: Callable[[dict[str, Any]], None],
) -> None:
    emulator.configure_load(batch_polls=4, batch_wrapped=True)
    items = [f"row-{i:02d}" for i in range(30)]
    phases = Phases()
    out = kimi_magic.map(items, "Echo {item}", batch=True, **{**connect, "progress": phases})

    assert all(f"Echo row-{i:02d}" in text for i, text in enumerate(out)) and not out.errors
    [submitted] = submissions(emulator)
    bodies = submitted["json"]["requests"]
    assert [b["external_reference"] for b in bodies] == [str(i) for i in range(30)]
    for body in bodies:  # each item against the single-request branch of the schema
        validate_request(body)
    assert len(polls(emulator)) == 5  # 2 queued, 2 running, then the results
    seen = phases.seen
    assert seen.index("queued") < seen.index("running") < seen.index("done")
    assert out.summary.done == 30 and out.summary.completion_tokens > 0


def test_a_failed_item_is_its_rows_error_and_only_it_is_resubmitted_on_a_rerun(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    emulator.script(
        {"content": "A!"}, {"fault": {"type": "http_error", "status": 500, "code": 3043}}
    )
    common = {**connect, "batch": True, "checkpoint": tmp_path / "b.jsonl"}
    first = kimi_magic.map(["a", "b", "c"], "Say {item}", **common)
    assert (
        first[1] is None
        and "3043" in first.errors[1]
        and "run the same call" in first.errors[1].lower()
    )
    assert first[0] == "A!" and "Say c" in first[2]

    emulator.reset()
    second = kimi_magic.map(["a", "b", "c"], "Say {item}", **common)
    [submitted] = submissions(emulator)
    assert [b["messages"][-1]["content"] for b in submitted["json"]["requests"]] == ["Say b"]
    assert "Say b" in second[1] and not second.errors


def test_a_restarted_session_polls_the_saved_request_id_instead_of_resubmitting(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    emulator.configure_load(batch_polls=2)
    connect.pop("progress")
    items = [f"q{i}" for i in range(12)]
    job = kimi_magic.batch_submit(items, "Answer {item}", **connect)
    assert len(submissions(emulator)) == 1
    first_status = kimi_magic.batch_status(job)
    assert first_status.waiting == 12 and "queued" in str(first_status)

    # A new kernel has only the same call: it finds the job by its checkpoint.
    again = kimi_magic.batch_submit(items, "Answer {item}", **connect)
    assert len(submissions(emulator)) == 1  # nothing sent twice
    out = kimi_magic.batch_results(again)
    assert all(f"Answer q{i}" in text for i, text in enumerate(out))
    assert kimi_magic.batch_status(again).finished


def test_payloads_are_split_under_ten_megabytes(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    big = [f"item {i} " + "x" * 1_500_000 for i in range(8)]  # about 12 MB of prompts
    out = kimi_magic.map(big, "{item}", batch=True, checkpoint=False, **connect)

    sent = submissions(emulator)
    assert len(sent) >= 2
    sizes = [len(str(r["json"])) for r in sent]
    assert all(size < 10_000_000 for size in sizes) and MAX_PAYLOAD_BYTES < 10_000_000
    references = [b["external_reference"] for r in sent for b in r["json"]["requests"]]
    assert references == [str(i) for i in range(8)]
    assert all(f"item {i}" in text for i, text in enumerate(out))


@pytest.mark.parametrize(
    ("entry", "text", "error"),
    [
        (
            {"id": 0, "success": True, "result": {"choices": [{"message": {"content": "hi"}}]}},
            "hi",
            None,
        ),
        (
            {
                "id": 0,
                "success": True,
                "result": {"result": {"choices": [{"message": {"content": "deep"}}]}},
            },
            "deep",
            None,
        ),
        (
            {"id": 0, "success": False, "result": {"errors": [{"code": 3040, "message": "busy"}]}},
            None,
            "busy",
        ),
        ({"id": 0, "success": False}, None, "gave no reason"),
    ],
)
def test_each_result_shape_is_read(
    entry: dict[str, Any], text: str | None, error: str | None
) -> None:
    poll = parse_poll({"responses": [{**entry, "external_reference": "7"}]})
    [item] = poll.items
    assert item.reference == "7" and poll.status == "done"
    assert (item.answer.text if item.answer else None) == text
    assert (error in item.error) if error else item.error is None


def test_a_poll_before_the_results_is_queued_or_running() -> None:
    assert parse_poll({"status": "queued", "request_id": "x"}).status == "queued"
    assert parse_poll({"status": "running", "request_id": "x"}).status == "running"


def test_a_batch_over_the_cost_cap_is_refused_before_anything_is_sent(
    emulator: Emulator, connect: dict[str, Any]
) -> None:
    from kimi_magic.core.errors import ConfigurationError

    # `max_cost=`, the old name of `job_max_cost=`, still works, with a DeprecationWarning.
    with pytest.raises(ConfigurationError) as caught, pytest.warns(DeprecationWarning):
        kimi_magic.map(
            [f"r{i}" for i in range(500)], "{item}", batch=True, max_cost=0.01, **connect
        )
    assert "over job_max_cost $0.01" in str(caught.value)
    assert "nothing was sent" in str(caught.value)
    assert emulator.requests == []


def test_batch_in_replay_mode_is_a_clear_error(
    emulator: Emulator, connect: dict[str, Any], tmp_path: Path
) -> None:
    from kimi_magic.core.errors import ConfigurationError

    path = tmp_path / "answers.jsonl"
    kimi_magic.map(["a"], "{item}", record=str(path), checkpoint=False, **connect)
    with pytest.raises(ConfigurationError) as caught:
        kimi_magic.map(
            ["a"],
            "{item}",
            replay=str(path),
            batch=True,
            checkpoint=False,
            progress=False,
            poll_interval=0.01,
        )
    assert "Replay mode cannot run Cloudflare's async batch" in str(caught.value)
