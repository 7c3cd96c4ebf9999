"""Bounded HTTP retries with `Retry-After`, on stamina (jittered exponential backoff).

Retried: 429, 500, 502, 503, 504 and connection/timeout errors (`httpx.TransportError`), plus
whatever a connector's `retryable` adds (Jamf Cloud's gateway throttle answers with a body, not a
status). A server's `Retry-After` — seconds, possibly fractional ("2.128", as Graph sends), or an
HTTP-date — replaces the backoff, capped by `max_retry_after_s` so a bad header cannot park a pull
for hours. After the last attempt the last response is returned (the caller names the failure);
a transport error on the last attempt is raised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
import stamina
import structlog

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay_s: float = 1.0  # first backoff; doubles per attempt, plus up to the same in jitter
    max_delay_s: float = 60.0  # cap of one backoff
    max_retry_after_s: float = 300.0  # cap of a server-sent Retry-After


def default_retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait, from seconds (fractional allowed) or an HTTP-date; None if absent/garbled."""
    if value is None or not value.strip():
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN, inf
        return None
    return max(0.0, seconds)


class _RetryableResponse(Exception):
    def __init__(self, response: httpx.Response, retry_after: float | None) -> None:
        super().__init__(f"HTTP {response.status_code}")
        self.response = response
        self.retry_after = retry_after


@dataclass
class RetryStats:
    retries: int = 0


async def request(
    http: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    policy: RetryPolicy,
    retryable: Callable[[httpx.Response], bool] = default_retryable,
    stats: RetryStats | None = None,
    **kwargs: Any,
) -> httpx.Response:
    """The first response that is not retryable, or the last one after `policy.max_attempts`."""

    def backoff(exc: Exception) -> bool | float:
        if isinstance(exc, _RetryableResponse):
            if exc.retry_after is not None:
                return min(exc.retry_after, policy.max_retry_after_s)
            return True
        return isinstance(exc, httpx.TransportError)

    attempt_no = 0
    try:
        async for attempt in stamina.retry_context(
            on=backoff,
            attempts=policy.max_attempts,
            timeout=None,
            wait_initial=policy.base_delay_s,
            wait_max=policy.max_delay_s,
            wait_jitter=policy.base_delay_s,
        ):
            with attempt:
                attempt_no = attempt.num
                if attempt_no > 1 and stats is not None:
                    stats.retries += 1
                try:
                    response = await http.request(method, url, **kwargs)
                except httpx.TransportError as exc:
                    log.warning("http.retryable_error", reason=type(exc).__name__, attempt=attempt_no)
                    raise
                if retryable(response):
                    retry_after = parse_retry_after(response.headers.get("retry-after"))
                    log.warning(
                        "http.retryable_status",
                        status=response.status_code,
                        attempt=attempt_no,
                        retry_after_s=retry_after,
                    )
                    raise _RetryableResponse(response, retry_after)
                return response
    except _RetryableResponse as exc:
        return exc.response  # attempts exhausted: the caller names the failure
    raise AssertionError("unreachable: stamina returns or raises on its last attempt")
