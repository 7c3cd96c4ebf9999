"""`make bench-tenants`: many tenants synced at the same moment (the 06:00 rush), on one and on
several reconciler processes of one consumer group (issue 12 item 3, "Scale out").

Per reconciler count a fresh stack (embedded PostgreSQL and Tansu, every topic with `--partitions`
partitions) serves N tenants, each with its own API token, Intune integration and master link.
The tenants are seeded by the ledger API from its bootstrap file, as the demo's tenant is: a link
created over `POST /v1/master-links` starts its first sync at once, which would spread the first
syncs over the time it takes to create 200 links instead of starting them together. Every
integration points at the same simulated Intune tenant (one `mdm-sim graph` with
`--devices-per-tenant` devices): each ledger tenant reconciles its own copy of the same 500 devices
(tenants are isolated, so identical serials in two tenants never meet).

Two phases, each started by a "sync now" (`POST /v1/master-links/{id}/sync`) of every tenant at once
with that tenant's token: the first full sync, then a no-change re-sync (what a real 06:00 mostly
is). Measured per phase: the wall time from the first request until every run is completed or
failed (polled in the API's `ledger.sync_runs`, what `GET /v1/sync-runs/{id}` reads, every 0.1 s),
devices/s, each run's own duration (requested → finished), the CPU seconds of every process.
After the phases: which partition of `mdm.snapshots.v1` each tenant's messages are on (read back
from the topic, keys only) and which partitions each reconciler process handled (its
`batch.handled` log lines name the snapshot partitions of each batch).
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import statistics
import time
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from ledger_contracts import topics

from .bench import cpu_seconds
from .demo import REPO
from .infra import free_port
from .stack import INTUNE_INTEGRATION, Stack, StackConfig, _write_secret

PHASES = ("first full sync", "no-change re-sync")
TERMINAL = ("completed", "failed", "refused")
GROUP = "reconciler"  # the reconciler's default consumer group (RECONCILER_GROUP_ID)


# --- pure parts: the seed, the logs, the aggregation, the report ----------------------------------


def tenant_ids(n: int) -> list[str]:
    return [f"bench-{i:04d}" for i in range(1, n + 1)]


def bootstrap_tenants(
    tenants: dict[str, str], credentials: dict[str, Any], link: dict[str, Any], local_time: str
) -> dict[str, Any]:
    """The API's bootstrap document: per tenant (id → token) one Intune integration with the
    simulator's credentials and one master link, scheduled daily at `local_time` UTC."""
    return {
        "tenants": [
            {
                "tenant_id": tenant_id,
                "name": f"Bench tenant {tenant_id}",
                "time_zone": "UTC",
                "api_tokens": [token],
                "integrations": [
                    {
                        "integration_id": INTUNE_INTEGRATION,
                        "kind": "intune",
                        "display_name": "Intune",
                        "credentials": credentials,
                    }
                ],
                "master_links": [link | {"schedule": {"local_time": local_time, "time_zone": "UTC"}}],
            }
            for tenant_id, token in tenants.items()
        ]
    }


def parse_batches(lines: Iterable[str]) -> dict[str, Any]:
    """One reconciler's `batch.handled` lines: records decided, snapshot partitions handled, and how
    often a Kafka commit was refused after a rebalance."""
    records, batches, refused = 0, 0, 0
    partitions: set[int] = set()
    for line in lines:
        if '"batch.' not in line:
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if entry.get("event") == "batch.handled":
            batches += 1
            records += int(entry.get("records", 0))
            partitions.update(int(p) for p in entry.get("partitions", ()))
        elif entry.get("event") == "batch.kafka_commit_failed":
            refused += 1
    return {
        "records": records,
        "batches": batches,
        "partitions": sorted(partitions),
        "commits_refused": refused,
    }


def spread(
    tenant_partitions: dict[str, set[int]], replicas: dict[str, list[int]], partitions: int
) -> dict[str, Any]:
    """How the tenants spread over the partitions of the snapshot topic and over the reconcilers.

    `tenant_partitions`: the partitions each tenant's snapshot messages were found on (one, since
    they are keyed by tenant); `replicas`: the snapshot partitions each reconciler handled."""
    per_partition = Counter(min(ps) for ps in tenant_partitions.values() if ps)
    counts = [per_partition.get(p, 0) for p in range(partitions)]
    owners: dict[int, list[str]] = {}
    for name, ps in replicas.items():
        for p in ps:
            owners.setdefault(p, []).append(name)
    by_replica = {
        name: {
            "partitions": sorted(ps),
            "tenants": sum(1 for t in tenant_partitions.values() if t and min(t) in ps),
        }
        for name, ps in sorted(replicas.items())
    }
    return {
        "partitions": partitions,
        "tenants_per_partition": counts,
        "min_per_partition": min(counts) if counts else 0,
        "max_per_partition": max(counts) if counts else 0,
        "empty_partitions": sum(1 for c in counts if c == 0),
        "tenants_on_several_partitions": sorted(t for t, ps in tenant_partitions.items() if len(ps) > 1),
        "reconcilers": by_replica,
        # A partition two reconcilers handled moved between them (a rebalance during the bench).
        "moved_partitions": sorted(p for p, names in owners.items() if len(names) > 1),
    }


def phase_summary(
    rows: list[dict[str, Any]], wall: float, cpu: dict[str, float], requests_s: float
) -> dict[str, Any]:
    """One phase: its runs (rows of ledger.sync_runs), the wall time until the last one finished,
    the CPU seconds per process over the phase (every reconciler process also summed)."""
    statuses = Counter(r["status"] for r in rows)
    seen = sum(int(r["seen"] or 0) for r in rows)
    durations = sorted(
        (r["finished_at"] - r["requested_at"]).total_seconds()
        for r in rows
        if r["finished_at"] is not None and r["requested_at"] is not None
    )
    cpu = {k: round(v, 2) for k, v in sorted(cpu.items()) if v >= 0.05}
    reconcilers = sum(v for k, v in cpu.items() if k == "reconciler" or k.startswith("reconciler-"))
    return {
        "runs": len(rows),
        "statuses": dict(statuses),
        "devices": seen,
        "created": sum(int(r["created"] or 0) for r in rows),
        "unchanged": sum(int(r["unchanged"] or 0) for r in rows),
        "wall_s": round(wall, 2),
        "devices_per_s": round(seen / wall) if wall > 0 else 0,
        "requests_sent_s": round(requests_s, 2),
        "run_s_p50": round(statistics.median(durations), 2) if durations else None,
        "run_s_max": round(durations[-1], 2) if durations else None,
        "cpu_s": cpu,
        "cpu_s_reconcilers": round(reconcilers, 2),
    }


def cpu_columns(cpu: dict[str, float]) -> str:
    """reconciler(s) / API / connector / PostgreSQL / broker, as in the README's bench table."""
    recs = [v for k, v in sorted(cpu.items()) if k == "reconciler" or k.startswith("reconciler-")]
    rec = " + ".join(f"{v:.1f}" for v in recs) if recs else "0.0"
    parts = [
        rec,
        f"{cpu.get('ledger-api', 0):.1f}",
        f"{cpu.get('intune-connector', 0):.1f}",
        f"{cpu.get('postgres', 0):.1f}",
        f"{cpu.get('tansu (broker)', 0):.1f}",
    ]
    return " / ".join(parts)


def report(results: list[dict[str, Any]]) -> str:
    """The printed tables: one row per (reconciler count, phase), then the spread per count."""
    lines = [
        "",
        "| reconcilers | phase | runs | devices | wall s | devices/s | run s p50 / max "
        "| CPU s: reconciler(s) / API / connector / PostgreSQL / broker |",
        "|---:|---|---:|---:|---:|---:|---|---|",
    ]
    for r in results:
        for name, p in r["phases"].items():
            runs = f"{p['runs']}" + ("" if set(p["statuses"]) <= {"completed"} else f" {p['statuses']}")
            lines.append(
                f"| {r['reconcilers']} | {name} | {runs} | {p['devices']:,} | {p['wall_s']:.2f} "
                f"| {p['devices_per_s']:,} | {p['run_s_p50']} / {p['run_s_max']} "
                f"| {cpu_columns(p['cpu_s'])} |"
            )
    for r in results:
        s = r.get("spread")
        if not s:
            continue
        lines += [
            "",
            f"{r['reconcilers']} reconciler(s): {s['partitions']} partitions of the snapshot topic, "
            f"tenants per partition {s['tenants_per_partition']} (min {s['min_per_partition']}, "
            f"max {s['max_per_partition']}, empty {s['empty_partitions']}; "
            f"{s.get('tenants_found_on_topic', sum(s['tenants_per_partition']))} tenants found on the topic)",
        ]
        for name, rep in s["reconcilers"].items():
            logs = r.get("reconciler_logs", {}).get(name, {})
            lines.append(
                f"  {name:<14} partitions {rep['partitions']} → {rep['tenants']} tenants, "
                f"{logs.get('records', 0):,} records in {logs.get('batches', 0)} batches, "
                f"{logs.get('commits_refused', 0)} Kafka commits refused"
            )
        if s["moved_partitions"]:
            lines.append(f"  partitions handled by two reconcilers (a rebalance): {s['moved_partitions']}")
        if s["tenants_on_several_partitions"]:
            lines.append(
                f"  tenants on several partitions (unexpected): {s['tenants_on_several_partitions']}"
            )
    return "\n".join(lines)


# --- the stack and the measurements ---------------------------------------------------------------


class TenantsStack(Stack):
    """The bench's stack: the ledger API's bootstrap file holds the N bench tenants (instead of the
    demo tenant), each linked to the one simulated Intune tenant."""

    def __init__(self, config: StackConfig, tenants: int) -> None:
        super().__init__(config)
        self.tokens = {t: secrets.token_urlsafe(24) for t in tenant_ids(tenants)}

    def _write_configs(self) -> None:
        s = self.sims["intune"]
        keys = ("azure_tenant_id", "client_id", "client_secret", "authority_url", "graph_base_url")
        credentials = {k: s[k] for k in keys} | {"ca_bundle": s["ca"]}
        link = self._link("ml-intune", INTUNE_INTEGRATION, "intune")
        self.links = [link]  # the same link id in every tenant
        # The daily schedule is 22 hours away: no scheduled run joins the bench's own requests.
        local_time = (datetime.now(UTC) - timedelta(hours=2)).strftime("%H:%M")
        doc = bootstrap_tenants(self.tokens, credentials, link, local_time)
        _write_secret(self.config.root / "ledger-bootstrap.json", doc)


async def wait_groups(bootstrap: str, members: dict[str, int], timeout: float = 120) -> None:
    """Until each consumer group is stable with its members (the reconcilers, the connector, the
    API's projection), so no join or rebalance falls into a phase. Tansu describes the members but
    not their assignments: which reconciler holds which partition comes from their logs."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        deadline = time.monotonic() + timeout
        while True:
            found: dict[str, tuple[str, int]] = {}
            for name in members:  # one group per request: Tansu 0.6 answers several groups garbled
                described = await admin.describe_consumer_groups([name])
                # each group: (error_code, group, state, protocol_type, protocol, members)
                found |= {g[1]: (g[2], len(g[5])) for resp in described for g in resp.groups}
            if all(found.get(name) == ("Stable", n) for name, n in members.items()):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"consumer groups not stable with {members}: {found}")
            await asyncio.sleep(0.5)  # polling the groups' state
    finally:
        await admin.close()


async def sync_all(api_url: str, tokens: dict[str, str], link_id: str) -> tuple[list[str], float]:
    """ "Sync now" for every tenant at once (up to 50 requests in flight); the run ids and how long
    sending them took."""
    limit = asyncio.Semaphore(50)
    t0 = time.perf_counter()
    async with httpx.AsyncClient(base_url=api_url, timeout=120, trust_env=False) as client:

        async def one(token: str) -> str:
            async with limit:
                r = await client.post(
                    f"/v1/master-links/{link_id}/sync",
                    json={},
                    headers={"Authorization": f"Bearer {token}"},
                )
                r.raise_for_status()
                return str(r.json()["sync_run_id"])

        ids = await asyncio.gather(*(one(t) for t in tokens.values()))
    return list(ids), time.perf_counter() - t0


async def wait_runs(database_url: str, run_ids: list[str], timeout: float = 3600) -> list[dict[str, Any]]:
    """Poll the API's projection of the runs (what GET /v1/sync-runs/{id} reads) until all ended."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + timeout
        while True:
            done = await conn.fetchval(
                "SELECT count(*) FROM ledger.sync_runs WHERE sync_run_id = ANY($1::uuid[]) "
                "AND status = ANY($2::text[])",
                run_ids,
                list(TERMINAL),
            )
            if done == len(run_ids):
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(run_ids) - done} of {len(run_ids)} runs still open")
            await asyncio.sleep(0.1)  # polling the runs' outcome
        rows = await conn.fetch(
            "SELECT tenant_id, status, seen, created, unchanged, requested_at, finished_at "
            "FROM ledger.sync_runs WHERE sync_run_id = ANY($1::uuid[])",
            run_ids,
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


async def tenant_partitions(bootstrap: str, topic: str) -> tuple[int, dict[str, set[int]]]:
    """The partitions the broker reports for `topic`, and each key's (tenant's) partitions in it."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_bytes=64 << 20,
        max_partition_fetch_bytes=16 << 20,
    )
    await consumer.start()
    try:
        await consumer._client.force_metadata_update()
        parts = sorted(consumer.partitions_for_topic(topic) or ())
        tps = [TopicPartition(topic, p) for p in parts]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        end = await consumer.end_offsets(tps)
        out: dict[str, set[int]] = {}
        pending = {tp for tp in tps if end[tp] > 0}
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000, max_records=50_000)
            for tp, recs in batch.items():
                for rec in recs:
                    out.setdefault((rec.key or b"").decode(), set()).add(tp.partition)
            pending = {tp for tp in pending if await consumer.position(tp) < end[tp]}
        return len(parts), out
    finally:
        await consumer.stop()


def _log_size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


def run_one(reconcilers: int, tenants: int, devices: int, partitions: int, session_ms: int) -> dict[str, Any]:
    config = StackConfig(
        root=REPO / ".run" / "bench-tenants" / f"reconcilers-{reconcilers}",
        intune_devices=devices,
        api_port=free_port(),
        asset_number_source="uuid",
        reconcilers=reconcilers,
        partitions=partitions,
        session_timeout_ms=session_ms,
    )
    out: dict[str, Any] = {"reconcilers": reconcilers, "phases": {}}
    stack = TenantsStack(config, tenants)
    with stack:
        assert stack.broker is not None
        groups = {GROUP: reconcilers, "intune-connector": 1, "ledger-api": 1}
        asyncio.run(wait_groups(stack.broker.bootstrap_servers, groups))
        names = [n for n in stack.procs if n == "reconciler" or n.startswith("reconciler-")]
        offsets = {n: _log_size(stack.procs[n].log_path) for n in names}  # only the phases' lines
        link_id = stack.links[0]["master_link_id"]
        for phase in PHASES:
            cpu0 = cpu_seconds(stack)
            t0 = time.perf_counter()
            run_ids, sent = asyncio.run(sync_all(stack.api_url, stack.tokens, link_id))
            rows = asyncio.run(wait_runs(stack.database_url, run_ids))
            wall = time.perf_counter() - t0
            cpu1 = cpu_seconds(stack)
            cpu = {k: cpu1[k] - cpu0.get(k, 0) for k in cpu1}
            p = out["phases"][phase] = phase_summary(rows, wall, cpu, sent)
            print(
                f"  {reconcilers} reconciler(s) {phase:<18} {p['runs']} runs {p['statuses']} "
                f"{p['devices']:>8} devices {p['wall_s']:>8.2f} s {p['devices_per_s']:>7} devices/s",
                flush=True,
            )
            stack.check_alive()
        logs: dict[str, Any] = {}
        for n in names:
            with stack.procs[n].log_path.open(errors="replace") as f:
                f.seek(offsets[n])
                logs[n] = parse_batches(f)
        out["reconciler_logs"] = logs
        snapshots = topics.named(topics.SNAPSHOTS, config.topic_prefix)
        count, keys = asyncio.run(tenant_partitions(stack.broker.bootstrap_servers, snapshots))
        by_tenant = {t: ps for t, ps in keys.items() if t in stack.tokens}
        out["spread"] = spread(by_tenant, {n: logs[n]["partitions"] for n in names}, count)
        out["spread"]["tenants_found_on_topic"] = len(by_tenant)
    return out


def main(tenants: int, devices: int, reconcilers: list[int], partitions: int, session_ms: int) -> int:
    print(
        f"Scale-out bench: {tenants} tenants × {devices} devices, reconcilers {reconcilers}, "
        f"{partitions} partitions per topic (logs: {REPO / '.run' / 'bench-tenants'})",
        flush=True,
    )
    load = os.getloadavg()
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    results = [run_one(n, tenants, devices, partitions, session_ms) for n in reconcilers]
    print(report(results))
    out = REPO / ".run" / "bench-tenants-results.json"
    out.write_text(
        json.dumps(
            {
                "tenants": tenants,
                "devices_per_tenant": devices,
                "partitions": partitions,
                "load_avg_start": load,
                "load_avg_end": os.getloadavg(),
                "results": results,
            },
            indent=2,
            default=str,
        )
    )
    print(f"\nResults written to {out}")
    ok = all(set(p["statuses"]) <= {"completed"} for r in results for p in r["phases"].values())
    return 0 if ok else 1
