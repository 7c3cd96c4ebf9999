"""Measure the device CSV: export N devices, then import the file into an empty tenant through the
real reconciler (every service in this one process).

    .venv/bin/python services/ledger-api/bench/csv_bench.py --devices 100000

Uses the broker/database named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else starts the embedded
ones (devstack). Prints one JSON line. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import json
import resource
import tempfile
import time
from pathlib import Path

import httpx

from devstack import infra, testing
from ledger_api.app import build_app
from ledger_api.settings import Settings
from reconciler.service import build_app as build_reconciler
from reconciler.settings import Settings as ReconcilerSettings

TOKENS = {"a": "bench-token-a-0123456789", "b": "bench-token-b-0123456789"}

# N bound Intune devices straight into the projection of tenant `a` (the export reads only that).
_FLEET = """
INSERT INTO ledger.devices (tenant_id, device_id, version, source, asset_number, serial_number, os,
    manufacturer, model, assigned_user, status, notes, custom_fields, binding_integration_id,
    binding_mdm_kind, binding_mdm_device_id, mdm, created_at, updated_at, last_seen_at)
SELECT 'a', gen_random_uuid(), 1, 'intune', 'PC-' || lpad(i::text, 6, '0'), 'SN' || i,
       'Windows (10.0.22631.' || i % 100 || ')', 'Dell Inc.', 'Latitude 7440', 'user' || i || '@example.com',
       'in_use', CASE WHEN i % 10 = 0 THEN 'desk 3, "window"' END,
       jsonb_build_object('cost_center', 'CC' || i % 50, 'price', (i % 3000)::text), 'int-1', 'intune',
       'mdm-' || i,
       jsonb_build_object('device_name', 'DESKTOP-' || i, 'mdm_device_id', 'mdm-' || i,
                          'registration_status', 'registered', 'disk_capacity_gb', 512.0,
                          'enrolled_at', '2026-01-05T09:00:00Z'),
       now(), now(), now()
FROM generate_series(1, $1) AS i
"""


def without_ids(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    for row in rows[1:]:
        row[0] = ""
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def _running(state: object):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return bool(state.consumer.running)  # type: ignore[attr-defined]

    return check


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


async def bench(bootstrap: str, database_url: str, devices: int) -> dict[str, object]:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    seed = Path(tempfile.mkdtemp()) / "bootstrap.json"
    seed.write_text(
        json.dumps({"tenants": [{"tenant_id": t, "name": t, "api_tokens": [k]} for t, k in TOKENS.items()]})
    )
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        bootstrap_file=seed,
        kafka_session_timeout_ms=2000,
        scheduler_enabled=False,
        import_wait_seconds=600,
    )
    reconciler = build_reconciler(
        ReconcilerSettings(
            database_url=database_url,
            kafka_bootstrap_servers=bootstrap,
            topic_prefix=prefix,
            kafka_session_timeout_ms=2000,
        )
    )
    await reconciler.start()
    running = asyncio.create_task(reconciler.run())
    app = build_app(settings)
    out: dict[str, object] = {"devices": devices}
    try:
        async with app.router.lifespan_context(app):
            state = app.state.ledger
            await testing.wait_for(_running(state), timeout=30)
            transport = httpx.ASGITransport(app=app)
            clients = {
                t: httpx.AsyncClient(
                    transport=transport,
                    base_url="http://ledger",
                    headers={"Authorization": f"Bearer {k}"},
                    timeout=900,
                )
                for t, k in TOKENS.items()
            }
            for c in clients.values():
                for field in (
                    {"name": "cost_center", "type": "text", "required": True},
                    {"name": "price", "type": "number"},
                ):
                    (await c.post("/v1/custom-fields", json=field)).raise_for_status()
            await state.pool.execute(_FLEET, devices)
            await state.pool.execute("ANALYZE ledger.devices")

            started = time.perf_counter()
            text = (await clients["a"].get("/v1/devices/export.csv")).raise_for_status().text
            out |= {
                "export_seconds": round(time.perf_counter() - started, 2),
                "export_mb": round(len(text) / 1e6, 1),
            }

            body = without_ids(text).encode()
            started = time.perf_counter()
            resp = await clients["b"].post(
                "/v1/devices/import", content=body, headers={"content-type": "text/csv"}
            )
            out |= {
                "import_seconds": round(time.perf_counter() - started, 2),
                "import_status": resp.status_code,
                "import": {k: resp.json().get(k) for k in ("status", "created", "updated", "unchanged")},
                "max_rss_mb": round(rss_mb()),
            }
            for c in clients.values():
                await c.aclose()
    finally:
        running.cancel()
        await reconciler.stop()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root, infra.running_infra(Path(root)) as (broker, database):
        database_url = asyncio.run(testing.create_database(database.url))
        print(json.dumps(asyncio.run(bench(broker.bootstrap_servers, database_url, args.devices))))


if __name__ == "__main__":
    main()
