"""A sync run in memory: fake Graph (httpx.MockTransport) and a recording `send` instead of Kafka."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from intune_connector.graph import RetryPolicy
from intune_connector.settings import Integration
from intune_connector.sync_run import SyncRun, prefetch
from ledger_contracts import (
    DeviceObserved,
    Event,
    MasterLinkSettings,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

pytestmark = pytest.mark.unit

BASE = "https://graph.test"
INTEGRATION = Integration(
    integration_id="int-1",
    azure_tenant_id="t",
    client_id="c",
    client_secret=SecretStr("s3cret-value"),
    graph_base_url=BASE,
)
LINK = MasterLinkSettings(master_link_id="ml", integration_id="int-1", mdm_kind="intune")


class Tokens:
    async def token(self) -> str:
        return "tok"

    async def refresh(self) -> str:
        return "tok2"


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    async def send(self, events: list[Event]) -> list[asyncio.Future[Any]]:
        self.events += events
        futures = []
        for _ in events:
            f: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            f.set_result(None)
            futures.append(f)
        return futures


def graph(pages: list[list[dict[str, Any]]], fail_page: int | None = None) -> httpx.AsyncClient:
    def handler(request: httpx.Request) -> httpx.Response:
        n = int(request.url.params.get("page", "1"))
        if n == fail_page:
            return httpx.Response(400, json={"error": {"code": "BadRequest", "message": "nope"}})
        body: dict[str, Any] = {"@odata.count": sum(map(len, pages)), "value": pages[n - 1]}
        if n < len(pages):
            body["@odata.nextLink"] = f"{BASE}/v1.0/deviceManagement/managedDevices?page={n + 1}"
        return httpx.Response(200, json=body)

    return httpx.AsyncClient(transport=httpx.MockTransport(handler))


def run(client: httpx.AsyncClient, recorder: Recorder) -> SyncRun:
    request = SyncRequested(tenant_id="acme", sync_run_id=uuid.uuid4(), master_link=LINK)
    return SyncRun(
        INTEGRATION, request, Tokens(), lambda: client, recorder.send, RetryPolicy(2, 0.001, 0.001)
    )


def device(i: int, **kw: Any) -> dict[str, Any]:
    return {"id": f"dev-{i}", "deviceName": f"D{i}", "serialNumber": f"SN{i:04d}", **kw}


async def test_started_then_every_device_then_completed() -> None:
    rec = Recorder()
    result = await run(graph([[device(1), device(2)], [device(3)]]), rec).execute()
    types = [type(e) for e in rec.events]
    assert types == [SyncRunStarted, DeviceObserved, DeviceObserved, DeviceObserved, SyncRunCompleted]
    done = rec.events[-1]
    assert isinstance(done, SyncRunCompleted) and (done.devices_observed, done.reported_total) == (3, 3)
    assert (result.status, result.pages, result.devices_observed) == ("completed", 2, 3)
    assert {e.tenant_id for e in rec.events} == {"acme"}


async def test_malformed_device_is_skipped_and_counted() -> None:
    rec = Recorder()
    result = await run(
        graph([[device(1), device(2, serialNumber=42), {"deviceName": "no id"}]]), rec
    ).execute()
    assert (result.status, result.malformed, result.devices_observed) == ("completed", 2, 1)
    assert isinstance(rec.events[-1], SyncRunCompleted) and rec.events[-1].devices_observed == 1


async def test_failure_after_a_page_publishes_failed_and_no_completed() -> None:
    rec = Recorder()
    result = await run(graph([[device(1)], [device(2)]], fail_page=2), rec).execute()
    assert [type(e) for e in rec.events] == [SyncRunStarted, DeviceObserved, SyncRunFailed]
    failed = rec.events[-1]
    assert isinstance(failed, SyncRunFailed) and failed.devices_observed == 1
    assert "400: BadRequest: nope" in failed.error and result.status == "failed"


async def test_an_unexpected_error_still_ends_the_run_failed_without_the_secret() -> None:
    def broken() -> httpx.AsyncClient:
        raise RuntimeError("boom with s3cret-value inside")

    rec = Recorder()
    r = run(graph([[device(1)]]), rec)
    r.open_http = broken
    result = await r.execute()
    assert result.status == "failed" and isinstance(rec.events[-1], SyncRunFailed)
    assert "s3cret-value" not in rec.events[-1].error and "RuntimeError: boom" in rec.events[-1].error


async def test_prefetch_yields_in_order_and_propagates_errors() -> None:
    async def numbers(fail_at: int | None) -> AsyncIterator[int]:
        for i in range(5):
            if i == fail_at:
                raise ValueError("page broke")
            yield i

    assert [i async for i in prefetch(numbers(None))] == [0, 1, 2, 3, 4]
    got = []
    with pytest.raises(ValueError, match="page broke"):
        async for i in prefetch(numbers(3)):
            got.append(i)
    assert got == [0, 1, 2]


async def test_prefetch_stops_its_source_when_the_consumer_stops_early() -> None:
    closed = asyncio.Event()

    async def endless() -> AsyncIterator[int]:
        try:
            i = 0
            while True:
                yield i
                i += 1
        finally:
            closed.set()

    async for i in prefetch(endless()):
        if i == 2:
            break
    await asyncio.wait_for(closed.wait(), 5)
