"""The adaptive limit: fewer in flight after 429s (by the share refused), more after successes,
no launch before a Retry-After."""

from __future__ import annotations

from kimi_magic.scale.limiter import DECREASE_COOLDOWN_S, AdaptiveLimit


def test_a_wall_of_refusals_halves_the_limit_once_per_cooldown() -> None:
    limit = AdaptiveLimit(32)
    for _ in range(40):
        limit.throttled(now=10.0, retry_after=None)
    assert limit.limit == 31  # the first 429 of a job is one answer in a limit's worth
    for _ in range(40):
        limit.throttled(now=10.0 + DECREASE_COOLDOWN_S, retry_after=None)
    assert limit.limit == 15  # everything since was refused: halved


def test_a_few_refusals_among_many_successes_trim_it_a_little() -> None:
    limit = AdaptiveLimit(32)
    limit.throttled(now=0.0, retry_after=None)
    before = limit.limit
    for _ in range(80):
        limit.succeeded()
    limit.throttled(now=5.0, retry_after=None)
    assert before - 2 <= limit.limit < before + 3


def test_successes_grow_it_back_to_the_maximum_and_no_further() -> None:
    limit = AdaptiveLimit(8)
    limit.limit = 2
    for _ in range(200):
        limit.succeeded()
    assert limit.limit == 8


def test_retry_after_pauses_launching_and_never_below_one_slot() -> None:
    limit = AdaptiveLimit(4)
    for second in range(20):
        for _ in range(10):
            limit.throttled(now=float(second * 2), retry_after=1.5)
    assert limit.limit == 1
    assert not limit.can_launch(now=38.5) and limit.can_launch(now=39.6)
    limit.launched()
    assert not limit.can_launch(now=40.0)
    limit.finished()
    assert limit.can_launch(now=40.0)
