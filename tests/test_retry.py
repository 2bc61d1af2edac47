"""When to retry and how long to wait: `Retry-After` in both its forms, backoff with jitter."""

from __future__ import annotations

import time
from email.utils import formatdate

import pytest

from kimi_magic.api.retry import parse_retry_after, retry_delay


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("3", 3.0),
        ("0.5", 0.5),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 0.0),  # a date in the past: go now
    ],
)
def test_retry_after_values(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value) == expected


@pytest.mark.parametrize("zone", ["GMT", "+0000", "-0000"])
def test_retry_after_as_an_http_date(zone: str) -> None:
    value = formatdate(time.time() + 30, usegmt=True).replace("GMT", zone)
    assert parse_retry_after(value) == pytest.approx(30, abs=2)


def test_retry_delay_honours_the_server_then_backs_off() -> None:
    assert retry_delay(0, 2.0) == 2.0
    assert retry_delay(5, 1000.0) == 60.0  # capped
    assert 0.375 <= retry_delay(0, None) <= 0.625
    assert retry_delay(10, None) <= 10.0
