"""docs/reliability.md is the matrix that runs: generated from it, and at least 80 cases."""

from __future__ import annotations

from pathlib import Path

from matrix import GROUP_TITLES, all_cases, markdown

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"


def test_the_published_matrix_is_the_one_that_runs() -> None:
    assert DOC.read_text(encoding="utf-8") == markdown(), (
        "docs/reliability.md is out of step with the tests: run "
        "`python tests/reliability/matrix.py > docs/reliability.md`"
    )


def test_the_matrix_has_every_group_and_at_least_80_cases() -> None:
    cases = all_cases()
    ids = [(c.group, c.id) for c in cases]
    assert len(ids) == len(set(ids)), "a case id is used twice"
    assert len(cases) >= 80
    assert {c.group for c in cases} == set(GROUP_TITLES)
