"""Measure the reconciler's cost per device: a first sync of N devices, then a no-change re-sync,
through the real pipeline (`pipeline.process`) and PostgreSQL, without the broker.

    .venv/bin/python services/reconciler/bench/resync_bench.py --devices 20000

Each batch of 5,000 records is decoded from its wire bytes (`codec.decode`, as the consumer does)
and processed in one transaction (as adapters/kafka.py does). Reported per phase: wall time, the CPU
seconds of this process (the reconciler's work: decode, load, fold, write) and of its PostgreSQL
backend (/proc/<pid>/stat), in µs per device; and the load average. Uses DATABASE_URL (an admin URL
of a local server) or starts the embedded PostgreSQL (devstack). Prints one JSON line. Not a test.

`--no-fast-path` switches the fast path off (every device loaded and decided: the full path);
run it against an older checkout (PYTHONPATH=<its services/reconciler/src>) for a "before".
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from devstack import infra, testing
from ledger_contracts import (
    DeviceObserved,
    MasterLinkSettings,
    MatchingKey,
    ObservedDevice,
    SyncRunCompleted,
    SyncRunStarted,
    codec,
)
from reconciler.adapters.postgres import PgStore
from reconciler.migrate import apply_migrations
from reconciler.model import Record
from reconciler.pipeline import process

BATCH = 5000
T0 = datetime(2026, 11, 29, 6, tzinfo=UTC)
LINK = MasterLinkSettings(
    master_link_id="ml-bench",
    integration_id="int-intune-1",
    mdm_kind="intune",
    matching_key=MatchingKey(mdm="serial_number", ledger="serial_number"),
    asset_number_source="uuid",
)


def fleet(n: int) -> list[ObservedDevice]:
    return [
        ObservedDevice(
            mdm_device_id=str(uuid.UUID(int=i + 1)),
            serial_number=f"SN{i:010d}",
            uuid=str(uuid.UUID(int=10**9 + i)),
            device_name=f"CPC-{i:06d}",
            manufacturer="Microsoft Corporation",
            model="Surface Laptop 5",
            os="Windows (10.0.22631.4460)",
            assigned_user=f"user{i}@example.com",
        )
        for i in range(n)
    ]


def run_records(devices: list[ObservedDevice], salt: str) -> list[bytes]:
    """The wire bytes of one run: start, every device, end."""
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, salt)
    ids = iter(range(10**9))

    def ev(cls: Any, **kw: Any) -> bytes:
        i = next(ids)
        return codec.encode(
            cls(
                event_id=uuid.uuid5(run_id, str(i)),
                occurred_at=T0 + timedelta(milliseconds=i),
                tenant_id="bench",
                **kw,
            )
        )[1]

    common = {"sync_run_id": run_id, "integration_id": LINK.integration_id}
    out = [ev(SyncRunStarted, sync_run_id=run_id, master_link=LINK)]
    out += [ev(DeviceObserved, device=d, **common) for d in devices]
    out.append(ev(SyncRunCompleted, devices_observed=len(devices), **common))
    return out


class FullPathStore(PgStore):
    async def _fresh(self, tenant: str, n: Any) -> set[tuple[str, str]]:
        return set()


def cpu_of(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def phase(
    conn: asyncpg.Connection, store: PgStore, values: list[bytes], offset: int
) -> dict[str, float]:
    pg_pid = await conn.fetchval("SELECT pg_backend_pid()")
    wall, cpu, pg = time.perf_counter(), time.process_time(), cpu_of(pg_pid)
    for start in range(0, len(values), BATCH):
        chunk = values[start : start + BATCH]
        records = [
            Record("mdm.snapshots.v1", 0, offset + start + i, codec.decode(codec.snapshot_adapter, v))
            for i, v in enumerate(chunk)
        ]
        async with conn.transaction():
            await process(store, records, "")
            await conn.execute("DELETE FROM reconciler.outbox")  # the relay's job, not measured
    devices = len(values) - 2
    wall, cpu, pg = time.perf_counter() - wall, time.process_time() - cpu, cpu_of(pg_pid) - pg
    return {
        "wall_s": round(wall, 2),
        "reconciler_cpu_s": round(cpu, 2),
        "postgres_cpu_s": round(pg, 2),
        "reconciler_us_per_device": round(cpu / devices * 1e6, 1),
        "postgres_us_per_device": round(pg / devices * 1e6, 1),
    }


async def bench(admin_url: str, n: int, fast: bool) -> dict[str, object]:
    url = await testing.create_database(admin_url)
    # as adapters/kafka.py connects: every execution planned with its parameters
    conn = await asyncpg.connect(url, server_settings={"plan_cache_mode": "force_custom_plan"})
    try:
        await apply_migrations(conn)
        store = PgStore(conn) if fast else FullPathStore(conn)
        devices = fleet(n)
        first = run_records(devices, "first")
        out: dict[str, object] = {"devices": n, "fast_path": fast, "gc_threshold": gc.get_threshold()}
        out["first_sync"] = await phase(conn, store, first, 0)
        await conn.execute("ANALYZE")
        out["resync"] = await phase(conn, store, run_records(devices, "resync-1"), len(first))
        out["resync_again"] = await phase(conn, store, run_records(devices, "resync-2"), 2 * len(first))
        values = run_records(devices, "floor")
        cpu = time.process_time()
        for v in values:
            codec.decode(codec.snapshot_adapter, v)
        out["decode_only_us_per_device"] = round((time.process_time() - cpu) / n * 1e6, 1)
        out["load_average"] = os.getloadavg()
        return out
    finally:
        await conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=20000)
    parser.add_argument("--no-fast-path", action="store_true")
    parser.add_argument(
        "--gc-threshold",
        type=int,
        default=0,
        help="generation-0 threshold of the cyclic GC (0: Python's default, 700)",
    )
    args = parser.parse_args()
    if args.gc_threshold:
        gc.set_threshold(args.gc_threshold, *gc.get_threshold()[1:])
    fast = not args.no_fast_path
    if url := os.environ.get("DATABASE_URL"):
        print(json.dumps(asyncio.run(bench(url, args.devices, fast))))
        return
    with tempfile.TemporaryDirectory(prefix="reconciler-bench-") as d:
        db = infra.start_database(Path(d) / "pgdata")
        try:
            print(json.dumps(asyncio.run(bench(db.url, args.devices, fast))))
        finally:
            db.stop()


if __name__ == "__main__":
    main()
