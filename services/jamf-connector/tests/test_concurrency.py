"""Jamf's guidance, "no more than 5 concurrent connections": pages are fetched concurrently and never
more than `max_concurrency` at once — shown deterministically (issue 14): the fake holds every page
request until five are waiting, so the test neither depends on timing nor passes by luck."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import httpx
import pytest
import respx

from connector_kit.retry import RetryPolicy
from jamf_connector.client import open_client
from jamf_connector.settings import parse_integrations

pytestmark = pytest.mark.unit  # respx: no socket

BASE = "https://jamf.test"
TOTAL, PAGE = 2000, 100  # 20 pages: page 0, then 19 fetched concurrently


class Gate:
    def __init__(self, release_at: int) -> None:
        self.release_at = release_at
        self.in_flight = self.max_in_flight = 0
        self.opened = asyncio.Event()

    async def computers(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        ids = range(page * PAGE + 1, (page + 1) * PAGE + 1)
        body = {"totalCount": TOTAL, "results": [{"id": str(i)} for i in ids if i <= TOTAL]}
        if page == 0 or "filter" in request.url.params:
            return httpx.Response(200, json={"totalCount": 0, "results": []} if page else body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        if self.in_flight >= self.release_at:
            self.opened.set()
        await self.opened.wait()  # held until `release_at` requests are in flight together
        self.in_flight -= 1
        return httpx.Response(200, json=body)


async def pull_computers(
    computers: Callable[[httpx.Request], Awaitable[httpx.Response]], limit: int
) -> list[int]:
    """Every computer id a pull yields, in order, from a fake Jamf whose inventory is `computers`."""
    respx.post(f"{BASE}/api/oauth/token").mock(
        return_value=httpx.Response(200, json={"access_token": "t", "expires_in": 300})
    )
    respx.get(url__startswith=f"{BASE}/api/v4/computers-inventory").mock(side_effect=computers)
    respx.get(url__startswith=f"{BASE}/api/v2/mobile-devices/detail").mock(
        return_value=httpx.Response(200, json={"totalCount": 0, "results": []})
    )
    integration = parse_integrations({"j": {"base_url": BASE, "client_id": "c", "client_secret": "s"}})["j"]
    ids: list[int] = []
    async with asyncio.timeout(30):  # only a fake that never answers could trip it
        async with open_client(
            integration, page_size=PAGE, max_concurrency=limit, policy=RetryPolicy(max_attempts=1)
        ) as client:
            async with contextlib.aclosing(client.inventory()) as pages:
                async for page in pages:
                    ids += [int(r["id"]) for r in page.records]
    return ids


@pytest.mark.parametrize("limit", [5, 2])
@respx.mock
async def test_pages_are_fetched_concurrently_and_never_more_than_the_limit(limit: int) -> None:
    gate = Gate(release_at=limit)
    ids = await pull_computers(gate.computers, limit)  # would time out if fewer than `limit` ran together
    assert len(ids) == TOTAL
    assert gate.max_in_flight == limit  # concurrent (it reached the limit) and bounded (never above)


class Reversed:
    """Answers every window of pages last-first: page n is held until page n+1 has been answered
    (within a window of `limit`), so completion order is the reverse of page order."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.answered: dict[int, asyncio.Event] = {}
        self.completion: list[int] = []

    def _event(self, page: int) -> asyncio.Event:
        return self.answered.setdefault(page, asyncio.Event())

    async def computers(self, request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        ids = range(page * PAGE + 1, (page + 1) * PAGE + 1)
        body = {"totalCount": TOTAL, "results": [{"id": str(i)} for i in ids if i <= TOTAL]}
        if "filter" in request.url.params:
            return httpx.Response(200, json={"totalCount": 0, "results": []})
        last_page = TOTAL // PAGE - 1
        if page and page % self.limit and page < last_page:  # not the last of its window
            await self._event(page + 1).wait()
        self.completion.append(page)
        self._event(page).set()
        return httpx.Response(200, json=body)


@pytest.mark.rule("R-M13")
@respx.mock
async def test_pages_are_yielded_in_page_order_whatever_order_they_complete_in() -> None:
    """Issue 9: the reconciler decides competing devices (one serial on two records, one asset number
    wanted twice) in the order it receives them; that order must be Jamf's own (`id:asc`), the same
    in every run, not the order in which concurrent responses happen to finish."""
    limit = 4
    fake = Reversed(limit)
    ids = await pull_computers(fake.computers, limit)
    assert fake.completion[1 : limit + 1] == [4, 3, 2, 1]  # the first window did finish reversed
    assert ids == list(range(1, TOTAL + 1))  # and were yielded in Jamf's order
