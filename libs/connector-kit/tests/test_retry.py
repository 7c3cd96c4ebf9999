"""Retry with Retry-After on stamina: which answers are retried, how long, and how often."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
import stamina

from connector_kit.retry import RetryPolicy, RetryStats, parse_retry_after, request

pytestmark = pytest.mark.unit  # httpx.MockTransport: no socket

FAST = RetryPolicy(max_attempts=4, base_delay_s=0.001, max_delay_s=0.002, max_retry_after_s=0.05)


@pytest.fixture
def waits() -> Iterator[list[float]]:
    """The wait stamina chose before each retry (its on-retry hook)."""
    seen: list[float] = []
    saved = stamina.instrumentation.get_on_retry_hooks()
    stamina.instrumentation.set_on_retry_hooks([lambda details: seen.append(details.wait_for)])
    yield seen
    stamina.instrumentation.set_on_retry_hooks(saved)


def scripted(*answers: httpx.Response | Exception) -> tuple[httpx.AsyncClient, list[httpx.Request]]:
    calls: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        calls.append(req)
        answer = answers[min(len(calls), len(answers)) - 1]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return httpx.AsyncClient(transport=httpx.MockTransport(handler)), calls


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
async def test_throttling_and_server_errors_are_retried(status: int) -> None:
    http, calls = scripted(httpx.Response(status), httpx.Response(200, text="ok"))
    stats = RetryStats()
    async with http:
        resp = await request(http, "GET", "https://mdm.test/x", policy=FAST, stats=stats)
    assert (resp.status_code, len(calls), stats.retries) == (200, 2, 1)


@pytest.mark.parametrize("status", [400, 401, 403, 404])
async def test_client_errors_are_answered_at_once(status: int) -> None:
    http, calls = scripted(httpx.Response(status))
    async with http:
        resp = await request(http, "GET", "https://mdm.test/x", policy=FAST)
    assert (resp.status_code, len(calls)) == (status, 1)


async def test_retry_after_in_fractional_seconds_is_the_wait(waits: list[float]) -> None:
    http, _ = scripted(httpx.Response(429, headers={"Retry-After": "0.013"}), httpx.Response(200))
    async with http:
        await request(http, "GET", "https://mdm.test/x", policy=FAST)
    assert waits == [0.013]


async def test_a_huge_retry_after_is_capped(waits: list[float]) -> None:
    http, _ = scripted(httpx.Response(503, headers={"Retry-After": "86400"}), httpx.Response(200))
    async with http:
        await request(http, "GET", "https://mdm.test/x", policy=FAST)
    assert waits == [FAST.max_retry_after_s]


async def test_attempts_are_bounded_and_the_last_answer_is_returned() -> None:
    http, calls = scripted(httpx.Response(503))
    async with http:
        resp = await request(http, "GET", "https://mdm.test/x", policy=FAST)
    assert (resp.status_code, len(calls)) == (503, FAST.max_attempts)


async def test_connection_errors_are_retried_then_raised() -> None:
    http, calls = scripted(httpx.ConnectError("reset"), httpx.Response(200))
    async with http:
        assert (await request(http, "GET", "https://mdm.test/x", policy=FAST)).status_code == 200
    http, calls = scripted(httpx.ConnectError("reset"))
    async with http:
        with pytest.raises(httpx.ConnectError):
            await request(http, "GET", "https://mdm.test/x", policy=FAST)
    assert len(calls) == FAST.max_attempts


async def test_a_vendor_rule_can_retry_more() -> None:
    http, calls = scripted(httpx.Response(400, content=b"QuotaViolation"), httpx.Response(200))
    async with http:
        resp = await request(
            http, "GET", "https://mdm.test/x", policy=FAST, retryable=lambda r: b"Quota" in r.content
        )
    assert (resp.status_code, len(calls)) == (200, 2)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0.05", 0.05),
        ("2", 2.0),
        ("2.128", 2.128),
        (None, None),
        ("", None),
        ("soon", None),
        ("-3", 0.0),
        ("nan", None),
    ],
)
def test_parse_retry_after_seconds(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(format_datetime(now + timedelta(seconds=30), usegmt=True), now) == 30.0
    assert parse_retry_after(format_datetime(now - timedelta(seconds=30), usegmt=True), now) == 0.0
