"""Bounded retries with jittered exponential backoff for Jamf Pro requests.

Retried: 429, every 5xx, network errors, and any error reply whose body carries Jamf Cloud's
gateway throttle `policies.ratelimit.QuotaViolation` — whatever its status, since the gateway has
answered it with 429, 500 and others over the years (jamf2snipe checks the body the same way).
`Retry-After` (seconds or an HTTP date) is honoured, up to a bound so a bad header cannot park a
pull for hours.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import structlog

log = structlog.get_logger(__name__)

QUOTA_VIOLATION = b"policies.ratelimit.QuotaViolation"
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 60.0
    max_retry_after_s: float = 300.0
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter (AWS architecture blog): spreads the retries of 5 parallel pages apart."""
        jittered = self.rng.uniform(0, min(self.cap_s, self.base_s * 2**attempt))
        if retry_after is None:
            return jittered
        return max(min(retry_after, self.max_retry_after_s), jittered)


def is_retryable(response: httpx.Response) -> bool:
    if response.status_code == 429 or response.status_code >= 500:
        return True
    return response.status_code >= 400 and QUOTA_VIOLATION in response.content


def retry_after_s(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


async def send(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    sleep: Sleep = asyncio.sleep,
    **kwargs: Any,
) -> httpx.Response:
    """The response of the first attempt that is not retryable, or of the last attempt."""
    for attempt in range(policy.max_attempts):
        last = attempt == policy.max_attempts - 1
        try:
            response = await http.request(method, url, **kwargs)
        except httpx.TransportError as exc:
            if last:
                raise
            wait = policy.delay(attempt, None)
            log.warning("jamf.retry", path=url, reason=type(exc).__name__, attempt=attempt + 1, wait_s=wait)
            await sleep(wait)
            continue
        if last or not is_retryable(response):
            return response
        wait = policy.delay(attempt, retry_after_s(response))
        reason = "QuotaViolation" if QUOTA_VIOLATION in response.content else str(response.status_code)
        log.warning("jamf.retry", path=url, reason=reason, attempt=attempt + 1, wait_s=round(wait, 3))
        await sleep(wait)
    raise AssertionError("unreachable: the loop returns or raises on its last attempt")
