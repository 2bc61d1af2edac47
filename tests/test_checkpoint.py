"""The checkpoint file: results by index and request key, errors sent again, batches, and a
line cut short by a crash."""

from __future__ import annotations

from pathlib import Path

from kimi_magic.core.types import Usage
from kimi_magic.scale.checkpoint import Checkpoint


def test_results_errors_and_batches_read_back(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    store = Checkpoint(path)
    store.add_result(0, "k0", "zero", Usage(10, 4, 2))
    store.add_error(1, "k1", "refused")
    store.add_batch("req-1", [(2, "k2"), (3, "k3")])
    store.close()

    saved = Checkpoint(path).load()
    assert saved.done[0].text == "zero" and saved.done[0].usage == Usage(10, 4, 2)
    assert 1 not in saved.done and saved.errors[1] == ("k1", "refused")
    assert saved.batches == {"req-1": [(2, "k2"), (3, "k3")]}


def test_a_line_cut_short_by_a_crash_is_skipped_and_the_next_starts_fresh(tmp_path: Path) -> None:
    path = tmp_path / "job.jsonl"
    path.write_text(
        '{"i": 0, "key": "k0", "text": "a", "usage": [1, 0, 1]}\n{"i": 1, "key": "k1", "te'
    )
    store = Checkpoint(path)
    store.add_result(2, "k2", "c", Usage(1, 0, 1))
    store.close()

    saved = Checkpoint(path).load()
    assert sorted(saved.done) == [0, 2]


def test_a_resubmitted_item_leaves_its_old_batch_and_its_old_error(tmp_path: Path) -> None:
    store = Checkpoint(None, in_memory=True)
    store.add_batch("first", [(0, "k0"), (1, "k1")])
    store.add_result(0, "k0", "ok", Usage())
    store.add_error(1, "k1", "failed")
    store.add_batch("second", [(1, "k1")])

    saved = store.load()
    assert saved.batches == {"first": [(0, "k0")], "second": [(1, "k1")]}
    assert 1 not in saved.errors


def test_without_a_path_nothing_is_written(tmp_path: Path) -> None:
    store = Checkpoint(None)
    store.add_result(0, "k", "t", Usage())
    assert store.load().done == {}
