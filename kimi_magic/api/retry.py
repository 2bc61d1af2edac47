"""When to try a failed request again, and how long to wait first."""

from __future__ import annotations

import math
import random
import time
from datetime import timezone
from email.utils import parsedate_to_datetime

from ..core.constants import (
    NO_RETRY_CLOUDFLARE_CODES,
    RETRY_AFTER_CAP_S,
    RETRY_BASE_DELAY_S,
    RETRY_CLOUDFLARE_CODES,
    RETRY_MAX_DELAY_S,
    RETRY_STATUS_CODES,
)
from ..core.errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    KimiError,
    UntrustedCertificateError,
)


def should_retry(error: KimiError) -> bool:
    """Transient failures only: capacity, rate limits, server errors, refused connections."""
    if isinstance(error, APIStatusError):
        if error.code in NO_RETRY_CLOUDFLARE_CODES:
            return False
        return error.status in RETRY_STATUS_CODES or error.code in RETRY_CLOUDFLARE_CODES
    # A read timeout means the server took the request and went quiet: sending it again
    # would double the wait, so only connection failures are retried.
    return isinstance(error, APIConnectionError) and not isinstance(
        error, (APITimeoutError, UntrustedCertificateError)
    )


def retry_reason(error: KimiError) -> str:
    """A few words for the live view: why the call is being tried again."""
    if isinstance(error, APIStatusError):
        if error.status == 429 or error.code == 3040:
            return "rate limited" if error.code != 3040 else "out of capacity"
        return f"server error {error.status}"
    return "connection failed"


def retry_delay(attempt: int, retry_after: float | None) -> float:
    """Seconds to wait before attempt `attempt + 1`: the server's word, else backoff + jitter."""
    if retry_after is not None:
        return min(max(retry_after, 0.0), RETRY_AFTER_CAP_S)
    backoff = min(RETRY_BASE_DELAY_S * 2**attempt, RETRY_MAX_DELAY_S)
    return backoff * (0.75 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """`Retry-After` as seconds: a number, or an HTTP date."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "nan" and "inf" parse as floats; no server means them
        return max(seconds, 0.0) if math.isfinite(seconds) else None
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" parses naive; HTTP dates are UTC all the same
        when = when.replace(tzinfo=timezone.utc)
    return max(when.timestamp() - time.time(), 0.0)
