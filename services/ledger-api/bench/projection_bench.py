"""Measure the projection: N synthetic LedgerDeviceChanged from the real broker into PostgreSQL.

    .venv/bin/python services/ledger-api/bench/projection_bench.py --changes 100000

Uses the broker/database named by KAFKA_BOOTSTRAP_SERVERS / DATABASE_URL, else starts the
embedded ones (devstack). Prints one JSON line. Not a test: nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import tempfile
import time
import uuid
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer

from devstack import infra, testing
from ledger_api.adapters import db
from ledger_api.adapters.repositories import device_listing as listing
from ledger_api.observability import Metrics
from ledger_api.projection.consumer import ProjectionConsumer
from ledger_contracts import codec, topics

# The message builders are test code (tests/ledger_api_testing.py), not part of the package.
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
from ledger_api_testing import device_changed


def synthetic(n: int, tenants: int) -> list[tuple[bytes, bytes]]:
    out = []
    for i in range(n):
        tenant = f"bench-{i % tenants}"
        event = device_changed(
            tenant,
            uuid.uuid4(),
            1,
            bound_to=("int-intune-1", str(uuid.uuid4())),
            asset_number=f"CPC-{i:06d}",
            serial_number=f"SN{i:010d}",
            os="Windows (10.0.22631.4460)",
            manufacturer="Microsoft Corporation",
            model="Surface Laptop 5",
            assigned_user=f"user{i}@example.com",
            status="in_use",
            custom_fields={"cost_center": "R&D"},
        )
        out.append(codec.encode(event))
    return out


async def run(bootstrap: str, admin_url: str, n: int, tenants: int) -> dict[str, object]:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    url = await testing.create_database(admin_url)
    topic = topics.named(topics.CHANGES, prefix)
    records = synthetic(n, tenants)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, max_batch_size=1 << 20)
    await producer.start()
    t = time.perf_counter()
    futures = [await producer.send(topic, key=k, value=v) for k, v in records]
    await asyncio.gather(*futures)
    produce_s = time.perf_counter() - t

    pool = await db.create_pool(url, min_size=1, max_size=4)
    await db.apply_migrations(pool)
    group = f"{prefix}ledger-api"
    metrics = Metrics()
    done = asyncio.Event()
    marks: dict[str, float] = {}

    def on_projected() -> None:
        # Called after each committed batch; no polling that would compete for the CPU.
        if "first" not in marks:
            marks["first"], marks["first_records"] = time.perf_counter(), metrics.records._value.get()
        if metrics.records._value.get() >= n:
            done.set()

    consumer = ProjectionConsumer(
        pool=pool,
        producer=producer,
        bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        group_id=group,
        metrics=metrics,
        on_projected=on_projected,
        session_timeout_ms=2000,
    )
    started = time.perf_counter()
    cpu_before = time.process_time()
    task = asyncio.create_task(consumer.run())
    await done.wait()
    end = time.perf_counter()
    python_cpu = time.process_time() - cpu_before
    backend = await consumer._conn.fetchval("SELECT pg_backend_pid()")  # type: ignore[union-attr]
    pg_cpu = _cpu_seconds(backend)
    first = marks["first"]
    queries = await _time_queries(pool, "bench-0")
    devices = await pool.fetchval("SELECT count(*) FROM ledger.devices")
    history = await pool.fetchval("SELECT count(*) FROM ledger.device_history")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await producer.stop()
    await pool.close()
    return {
        "changes": n,
        "tenants": tenants,
        "bytes_per_change": round(sum(len(v) for _, v in records) / n),
        "produce_seconds": round(produce_s, 2),
        "project_seconds_incl_group_join": round(end - started, 2),
        # from the commit of the first batch to the commit of the last: excludes the group join
        "project_seconds_after_first_batch": round(end - first, 2),
        "changes_per_second": round((n - marks["first_records"]) / (end - first)),
        # CPU, whatever else the machine runs: this process, and the projection's PG backend
        "cpu_seconds_python": round(python_cpu, 2),
        "cpu_seconds_postgres_backend": pg_cpu,
        "devices": devices,
        "history": history,
        "list_query_ms": queries,
    }


def _cpu_seconds(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return round((int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK"), 2)


async def _time_queries(pool: asyncpg.Pool, tenant: str) -> dict[str, float]:
    """Median milliseconds of the SQL behind GET /v1/devices for a few common requests."""
    await pool.execute("ANALYZE ledger.devices")
    cases = {
        "first page": (listing.Filters(), listing.Sort.parse(None)),
        "-updated_at": (listing.Filters(), listing.Sort.parse("-updated_at")),
        "sort=model": (listing.Filters(), listing.Sort.parse("model")),
        "q=user4242": (listing.Filters(q="user4242"), listing.Sort.parse(None)),
        "os=windows": (listing.Filters(os="windows"), listing.Sort.parse(None)),
        "assigned_user": (listing.Filters(assigned_user="user77@example.com"), listing.Sort.parse(None)),
    }
    out = {}
    async with pool.acquire() as conn:
        for name, (filters, sort) in cases.items():
            sql, args = listing.build_query(tenant, filters, sort, listing.DEFAULT_FIELDS, None, 100)
            times = []
            for _ in range(5):
                t = time.perf_counter()
                await conn.fetch(sql, *args)
                times.append((time.perf_counter() - t) * 1000)
            out[name] = round(sorted(times)[2], 1)
    return out


def main() -> None:
    # Stopped by a signal, still stop the broker and database it started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    parser = argparse.ArgumentParser()
    parser.add_argument("--changes", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=1, help="1 = every change on one partition")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ledger-bench-") as d, infra.running_infra(Path(d)) as (b, pg):
        print(json.dumps(asyncio.run(run(b.bootstrap_servers, pg.url, args.changes, args.tenants))))


if __name__ == "__main__":
    main()
