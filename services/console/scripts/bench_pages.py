"""Time the console's pages over a ledger of N devices (default 100,000): issue 13's "every page
works at 100,000 devices without loading them all".

    .venv/bin/python services/console/scripts/bench_pages.py [--devices 100000]

Starts the embedded broker and PostgreSQL (devstack), the real ledger API app in process, projects
N bound devices (LedgerDeviceChanged straight to ledger.changes.v1, as the reconciler would), then
drives the real console app in process and prints one JSON line: the time of each page, the bytes
and rows it asked the API for. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import secrets
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from devstack import infra, testing
from ledger_api.app import build_app as build_api
from ledger_api.settings import Settings as ApiSettings
from ledger_console.app import build_app
from ledger_console.settings import Settings
from ledger_contracts import (
    Binding,
    LedgerDevice,
    LedgerDeviceChanged,
    MdmOnlyFields,
    Provenance,
    codec,
    topics,
)

TOKEN = "bench-console-token-0123456789"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def change(i: int) -> tuple[bytes, bytes]:
    device_id = uuid.uuid4()
    mdm_id = str(uuid.uuid4())
    at = T0 + timedelta(seconds=i)
    device = LedgerDevice(
        device_id=device_id,
        tenant_id="bench",
        version=1,
        source="intune",
        asset_number=f"CPC-{i:06d}",
        serial_number=f"SN{i:010d}",
        os="Windows (10.0.22631.4460)" if i % 3 else "macOS (15.1)",
        manufacturer="Microsoft Corporation",
        model="Surface Laptop 5",
        assigned_user=f"user{i}@example.com",
        status="in_use",
        binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id=mdm_id),
        mdm=MdmOnlyFields(device_name=f"DESKTOP-{i:06d}", mdm_device_id=mdm_id, disk_capacity_gb=256.0),
        created_at=at,
        updated_at=at,
    )
    event = LedgerDeviceChanged(
        tenant_id="bench",
        occurred_at=at,
        change="created",
        device_id=device_id,
        version=1,
        provenance=Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=uuid.UUID(int=1)),
        device=device,
    )
    return codec.encode(event)


async def run(n: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="console-bench-") as tmp:
        root = Path(tmp)
        broker = infra.start_broker(root / "logs")
        database = infra.start_database(root / "pgdata")
        try:
            return await _run(n, root, broker.bootstrap_servers, database.url)
        finally:
            database.stop()
            broker.stop()


async def _run(n: int, root: Path, bootstrap: str, admin_url: str) -> dict[str, Any]:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    db_url = await testing.create_database(admin_url)
    (root / "bootstrap.json").write_text(
        json.dumps(
            {
                "tenants": [
                    {
                        "tenant_id": "bench",
                        "name": "Bench",
                        "time_zone": "Asia/Tokyo",
                        "api_tokens": [TOKEN],
                        "integrations": [{"integration_id": "int-intune-1", "kind": "intune"}],
                    }
                ]
            }
        )
    )
    api_app = build_api(
        ApiSettings(
            database_url=db_url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            bootstrap_file=root / "bootstrap.json",
            kafka_session_timeout_ms=2000,
            secrets_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
            scheduler_enabled=False,
        )
    )
    out: dict[str, Any] = {"devices": n}
    async with api_app.router.lifespan_context(api_app):
        t0 = time.perf_counter()
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
        await producer.start()
        try:
            topic = topics.named(topics.CHANGES, prefix)
            for start in range(0, n, 5000):
                batch = [
                    await producer.send(topic, value=v, key=k)
                    for k, v in map(change, range(start, min(n, start + 5000)))
                ]
                await asyncio.gather(*batch)
        finally:
            await producer.stop()
        conn = await asyncpg.connect(db_url)
        try:
            while True:  # the projection (another task) is catching up: polling its table, a bench
                if await conn.fetchval("SELECT count(*) FROM ledger.devices WHERE tenant_id = 'bench'") >= n:
                    break
                await asyncio.sleep(1)
        finally:
            await conn.close()
        out["seconds_to_project"] = round(time.perf_counter() - t0, 1)
        out["pages"] = await _pages(api_app)
    return out


async def _pages(api_app: Any) -> dict[str, Any]:
    requests: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=api_app)

    class Counting(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            requests.append(request)
            return await inner.handle_async_request(request)

    console = build_app(Settings(api_url="http://ledger"), transport=Counting())
    timings: dict[str, Any] = {}
    async with console.router.lifespan_context(console):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=console), base_url="http://console", timeout=300
        ) as c:
            form = await c.get("/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
            assert token
            await c.post("/signin", data={"token": TOKEN, "csrf_token": token.group(1)})

            async def timed(name: str, path: str) -> httpx.Response:
                before = len(requests)
                t = time.perf_counter()
                r = await c.get(path)
                timings[name] = {
                    "ms": round((time.perf_counter() - t) * 1000, 1),
                    "status": r.status_code,
                    "api_calls": len(requests) - before,
                    "bytes": len(r.content),
                }
                return r

            page = await timed("ledger_first_page", "/devices?limit=50")
            for i in range(1, 11):  # ten pages deep by cursor
                nxt = re.search(r'href="/devices\?([^"]+)" id="page-next"', page.text)
                assert nxt
                page = await timed(f"ledger_page_{i + 1}", "/devices?" + nxt.group(1).replace("&amp;", "&"))
            await timed("ledger_sorted_by_updated_desc", "/devices?sort=-updated_at&limit=200")
            await timed("ledger_search", "/devices?q=CPC-09999")
            await timed("ledger_os_filter", "/devices?os=macOS&sort=-assigned_user")
            await timed("ledger_missing_filter", "/devices?missing=1")
            first = re.search(r'href="/devices/([0-9a-f-]{36})"', page.text)
            assert first
            await timed("device_detail", f"/devices/{first.group(1)}")
            await timed("links", "/links")
            await timed("runs", "/runs")
            await timed("conflicts", "/conflicts")
            t = time.perf_counter()
            size = 0
            async with c.stream("GET", "/devices/export.csv") as r:
                async for chunk in r.aiter_raw():
                    size += len(chunk)
            timings["export_csv_streamed"] = {"ms": round((time.perf_counter() - t) * 1000, 1), "bytes": size}
    limits = [int(r.url.params.get("limit", "0")) for r in requests if r.url.path == "/v1/devices"]
    timings["largest_device_page_asked"] = max(limits)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--devices", type=int, default=100_000)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.devices))))


if __name__ == "__main__":
    main()
