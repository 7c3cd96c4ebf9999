"""`make bench-api`: the ledger API's reads at 1,000,000 devices (issue 12 item 4).

It starts the embedded PostgreSQL and broker and the ledger API alone (`LEDGER_API_WORKERS`
processes; the API applies its migrations), seeds N generated devices and a `created` history
entry for each straight into the API's read model (`INSERT … SELECT generate_series`, inside
PostgreSQL: the pipeline is bypassed, which issue 12 allows), runs `VACUUM ANALYZE`, then for each
case runs `wrk` (50 connections, 10 s) and reports p50/p99 latency and requests per second, and
the CPU seconds the API and PostgreSQL used. Detail and history ask for random devices of a
sample. Export streams `GET /v1/devices/export.csv` of every device once, timed, while the API's
RSS is sampled. Results: `.run/bench-api-results.json`.

`wrk` is a Debian package: `apt-get install -y wrk` (the bench stops with that hint without it).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil

from . import infra, testing
from .demo import REPO

TOKEN = "bench-api-token-0123456789"
TENANT = "bench"

# name -> path and query of one request (the default page is 100 devices, like the API's default)
CASES: list[tuple[str, str]] = [
    ("list (default sort asset_number)", "/v1/devices"),
    ("list limit=50", "/v1/devices?limit=50"),
    ("filter source=intune", "/v1/devices?source=intune"),
    ("filter source=manual", "/v1/devices?source=manual"),
    ("filter os=Windows (prefix)", "/v1/devices?os=Windows"),
    ("filter os=iPadOS (rare prefix)", "/v1/devices?os=iPadOS"),
    ("filter status=retired (1%)", "/v1/devices?status=retired"),
    ("filter status=in_use (85%)", "/v1/devices?status=in_use"),
    ("filter missing_from_mdm=true", "/v1/devices?missing_from_mdm=true"),
    ("filter assigned_user", "/v1/devices?assigned_user=user4242@example.com"),
    ("filter source+os, sort -updated_at", "/v1/devices?source=intune&os=Windows&sort=-updated_at"),
    *(
        (f"sort {s}", f"/v1/devices?sort={s}")
        for s in (
            "serial_number",
            "-device_name",
            "os",
            "manufacturer",
            "-model",
            "assigned_user",
            "status",
            "source",
            "-version",
            "created_at",
            "-updated_at",
            "-last_seen_at",
        )
    ),
    ("search q=latitude (model, 1 in 12)", "/v1/devices?q=latitude"),
    ("search q=<serial prefix> (rare)", "/v1/devices?q=3f2a9"),
    ("search q=user4242 (5 devices)", "/v1/devices?q=user4242@"),
    ("search q=zz-no-match", "/v1/devices?q=zz-no-match"),
    ("search q=ab (2 chars: no trigram)", "/v1/devices?q=ab"),
]
RANDOM_CASES: list[tuple[str, str]] = [
    ("detail (random device)", ""),
    ("history (random device)", "/history"),
]

_SEED = """
INSERT INTO ledger.devices (tenant_id, device_id, version, source, asset_number, serial_number, os,
    manufacturer, model, assigned_user, status, notes, custom_fields, binding_integration_id,
    binding_mdm_kind, binding_mdm_device_id, mdm, missing_from_mdm, last_seen_at, created_at, updated_at)
SELECT $1, md5('bench-device-' || i)::uuid, 1 + i % 5, g.source,
       CASE WHEN i % 20 = 0 THEN NULL ELSE 'A' || lpad(i::text, 7, '0') END,
       upper(substr(md5('serial-' || i), 1, 12)),
       CASE g.source
         WHEN 'intune' THEN (ARRAY['Windows (10.0.22631.4460)', 'Windows (10.0.22631.4460)',
                                   'Windows (10.0.19045.5131)', 'Android 14', 'iOS 17.5.1'])[1 + i % 5]
         WHEN 'jamf_pro' THEN (ARRAY['macOS 14.6.1', 'macOS 15.1', 'iPadOS 17.5'])[1 + i % 3]
         ELSE CASE WHEN i % 3 = 0 THEN NULL ELSE 'Windows 11' END END,
       (ARRAY['Dell', 'Lenovo', 'HP', 'Apple', 'Microsoft', 'Samsung'])[1 + i % 6],
       (ARRAY['Latitude 7440', 'ThinkPad T14', 'EliteBook 840', 'MacBook Pro 14', 'Surface Pro 9',
              'Galaxy S23', 'OptiPlex 7010', 'ThinkCentre M70', 'ProBook 450', 'MacBook Air 13',
              'Surface Laptop 5', 'iPad Air'])[1 + (i / 7) % 12],
       CASE WHEN i % 10 = 3 THEN NULL ELSE 'user' || (i % 200000) || '@example.com' END,
       CASE WHEN i % 100 = 0 THEN 'retired' WHEN i % 100 < 5 THEN 'repair'
            WHEN i % 100 < 15 THEN 'in_stock' ELSE 'in_use' END,
       CASE WHEN i % 50 = 0 THEN 'bench note ' || i END,
       '{}'::jsonb,
       CASE g.source WHEN 'intune' THEN 'int-intune-1' WHEN 'jamf_pro' THEN 'int-jamf-1' END,
       CASE WHEN g.source <> 'manual' THEN g.source END,
       CASE WHEN g.source <> 'manual' THEN md5('mdm-' || i) END,
       CASE WHEN g.source <> 'manual' THEN jsonb_build_object(
           'device_name', 'PC-' || lpad(i::text, 7, '0'), 'compliance_state', 'compliant',
           'os_version', '10.0.22631.4460', 'enrolled_at', '2025-04-01T00:00:00Z') END,
       g.source <> 'manual' AND i % 100 = 7,
       CASE WHEN g.source <> 'manual' THEN timestamptz '2026-11-28' - (i % 720) * interval '1 hour' END,
       timestamptz '2025-01-01' + i * interval '1 second',
       timestamptz '2025-01-01' + i * interval '1 second' + (i * 7919 % 26000000) * interval '1 second'
FROM generate_series($2::bigint, $3::bigint) AS i,
     LATERAL (SELECT CASE WHEN i % 10 < 2 THEN 'manual' WHEN i % 10 < 8 THEN 'intune'
                          ELSE 'jamf_pro' END AS source) g
"""
_SEED_HISTORY = """
INSERT INTO ledger.device_history (event_id, tenant_id, device_id, version, change, changes, provenance,
    command_id, previous_source, occurred_at)
SELECT md5('bench-history-' || i)::uuid, $1, md5('bench-device-' || i)::uuid, 1, 'created',
       jsonb_build_array(jsonb_build_object('field', 'serial_number', 'before', NULL,
           'after', upper(substr(md5('serial-' || i), 1, 12)), 'rule', 'R-S1')),
       '{"actor": "sync", "integration_id": "int-intune-1"}'::jsonb, NULL, NULL,
       timestamptz '2025-01-01' + i * interval '1 second'
FROM generate_series($2::bigint, $3::bigint) AS i
"""

_LUA_RANDOM = """
local ids = {}
for line in io.lines("%(ids)s") do ids[#ids + 1] = line end
local n = 0
init = function(args) math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16)) end
request = function()
  return wrk.format("GET", "/v1/devices/" .. ids[math.random(#ids)] .. "%(suffix)s")
end
"""


def _wrk_missing() -> str | None:
    if shutil.which("wrk"):
        return None
    return "wrk is not installed: `apt-get install -y wrk` (Debian) or build it from github.com/wg/wrk"


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not m:
        raise ValueError(f"wrk latency {text!r}")
    value, unit = float(m.group(1)), m.group(2)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[unit]


def parse_wrk(out: str) -> dict[str, Any]:
    """p50/p99 (ms), requests/s, request count and errors from `wrk --latency` output."""
    pct = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", out, re.M))
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    total = re.search(r"(\d+) requests in", out)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "p50_ms": round(_ms(pct["50"]), 2) if "50" in pct else None,
        "p90_ms": round(_ms(pct["90"]), 2) if "90" in pct else None,
        "p99_ms": round(_ms(pct["99"]), 2) if "99" in pct else None,
        "req_per_s": float(rps.group(1)) if rps else 0.0,
        "requests": int(total.group(1)) if total else 0,
        "non_2xx": int(non2xx.group(1)) if non2xx else 0,
        "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0,
    }


class Sampler(threading.Thread):
    """Peak RSS (process + children) and CPU seconds of the named processes."""

    def __init__(self, procs: dict[str, int], interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.procs, self.interval = procs, interval
        self.peak: dict[str, int] = {}
        self.done = threading.Event()

    def sample(self) -> None:
        for name, pid in self.procs.items():
            try:
                p = psutil.Process(pid)
                rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
            except psutil.Error:
                continue
            self.peak[name] = max(self.peak.get(name, 0), rss)

    def run(self) -> None:
        while not self.done.wait(self.interval):
            self.sample()

    def reset(self) -> None:
        self.peak = {}


def per_process_rss(pid: int) -> dict[str, float]:
    """RSS in MiB of a process and each child (the API's uvicorn supervisor and its workers)."""
    try:
        p = psutil.Process(pid)
        return {str(c.pid): round(c.memory_info().rss / 2**20, 1) for c in [p, *p.children(recursive=True)]}
    except psutil.Error:
        return {}


def pss_mib(pid: int) -> float | None:
    """Proportional set size of a process and its children (shared pages split between them):
    PostgreSQL's backends all map the shared buffers, so their RSS summed counts them many times."""
    try:
        p = psutil.Process(pid)
        total: int = sum(c.memory_full_info().pss for c in [p, *p.children(recursive=True)])
        return round(total / 2**20, 1)
    except (psutil.Error, AttributeError):
        return None


def cpu_seconds(procs: dict[str, int]) -> dict[str, float]:
    out = {}
    for name, pid in procs.items():
        try:
            p = psutil.Process(pid)
            times = [p.cpu_times(), *(c.cpu_times() for c in p.children(recursive=True))]
            out[name] = sum(t.user + t.system for t in times)
        except psutil.Error:
            continue
    return out


async def seed(url: str, devices: int, chunk: int = 100_000) -> float:
    t0 = time.perf_counter()
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("SET synchronous_commit = off")
        done = 0
        while done < devices:
            hi = min(devices, done + chunk)
            async with conn.transaction():
                await conn.execute(_SEED, TENANT, done + 1, hi)
                await conn.execute(_SEED_HISTORY, TENANT, done + 1, hi)
            done = hi
            print(f"  seeded {done:>9,} devices ({time.perf_counter() - t0:6.1f} s)", flush=True)
        await conn.execute("VACUUM ANALYZE ledger.devices")
        await conn.execute("VACUUM ANALYZE ledger.device_history")
    finally:
        await conn.close()
    return time.perf_counter() - t0


async def sample_ids(url: str, n: int = 5000) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        total = int(await conn.fetchval("SELECT count(*) FROM ledger.devices WHERE tenant_id = $1", TENANT))
        percent = min(100.0, 200.0 * n / max(total, 1))  # about 2n rows, spread over the table
        rows = await conn.fetch(
            f"SELECT device_id::text FROM ledger.devices TABLESAMPLE BERNOULLI ({percent}) "
            "WHERE tenant_id = $1 LIMIT $2",
            TENANT,
            n,
        )
    finally:
        await conn.close()
    return [r[0] for r in rows]


def run_wrk(url: str, *, connections: int, seconds: int, script: Path | None = None) -> str:
    argv = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "--timeout",
        "30s",
        "-H",
        f"Authorization: Bearer {TOKEN}",
    ]
    if script:
        argv += ["-s", str(script)]
    return subprocess.run(
        [*argv, url], capture_output=True, text=True, check=True, timeout=seconds + 60
    ).stdout


def export(base: str, sampler: Sampler, api: str) -> dict[str, Any]:
    sampler.reset()
    t0 = time.perf_counter()
    rows = size = 0
    with (
        httpx.Client(base_url=base, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=600) as client,
        client.stream("GET", "/v1/devices/export.csv") as response,
    ):
        response.raise_for_status()
        for block in response.iter_bytes():
            size += len(block)
            rows += block.count(b"\n")
    seconds = time.perf_counter() - t0
    sampler.sample()
    return {
        "seconds": round(seconds, 2),
        "rows": rows - 1,
        "mib": round(size / 2**20, 1),
        "api_peak_rss_mib": round(sampler.peak.get(api, 0) / 2**20, 1),
    }


def main(devices: int, workers: int, connections: int, seconds: int, only: str | None) -> int:
    if hint := _wrk_missing():
        print(hint, file=sys.stderr)
        return 2
    root = REPO / ".run" / "bench-api"
    if root.exists():
        shutil.rmtree(root)
    (root / "logs").mkdir(parents=True)
    load0 = os.getloadavg()
    print(
        f"bench-api: {devices:,} devices, {workers} API workers, wrk {connections} connections × {seconds} s"
    )
    print(f"  load average at start: {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f} on {os.cpu_count()} cores")
    with infra.running_infra(root) as (broker, db):
        asyncio.run(testing.create_all_topics(broker.bootstrap_servers, ""))
        url = asyncio.run(_create_db(db.url))
        bootstrap = root / "ledger-bootstrap.json"
        bootstrap.write_text(
            json.dumps({"tenants": [{"tenant_id": TENANT, "name": "Bench", "api_tokens": [TOKEN]}]})
        )
        port = infra.free_port()
        env = {
            **os.environ,
            "LEDGER_API_DATABASE_URL": url,
            "LEDGER_API_KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap_servers,
            "LEDGER_API_BOOTSTRAP_FILE": str(bootstrap),
            "LEDGER_API_PORT": str(port),
            "LEDGER_API_WORKERS": str(workers),
            "LEDGER_API_LOG_LEVEL": "WARNING",
        }
        with (root / "logs" / "ledger-api.log").open("ab") as log:
            api = subprocess.Popen(
                [sys.executable, "-m", "ledger_api"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=infra.die_with_parent(),
            )
        try:
            return _bench(root, url, api, db, port, devices, connections, seconds, workers, load0, only)
        finally:
            api.terminate()
            try:
                api.wait(15)
            except subprocess.TimeoutExpired:
                api.kill()


async def _postmaster_pid(url: str) -> int | None:
    """The postmaster of a local server given by DATABASE_URL: the parent of our backend."""
    conn = await asyncpg.connect(url)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        parent = psutil.Process(backend).parent()  # while the backend lives
    except psutil.Error:
        return None
    finally:
        await conn.close()
    return parent.pid if parent else None


async def _count(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM ledger.devices WHERE tenant_id = $1", TENANT))
    finally:
        await conn.close()


async def _create_db(admin_url: str) -> str:
    conn = await asyncpg.connect(admin_url)
    try:
        if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'ledger'"):
            await conn.execute("CREATE DATABASE ledger")  # else DATABASE_URL's server, seeded before
    finally:
        await conn.close()
    return testing.with_database(admin_url, "ledger")


def _wait_ready(base: str, api: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if api.poll() is not None:
            raise RuntimeError(f"ledger-api exited with {api.returncode}; see .run/bench-api/logs")
        try:
            if httpx.get(base + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling until the API answers
    raise TimeoutError("ledger-api not ready")


def _bench(
    root: Path,
    url: str,
    api: subprocess.Popen[bytes],
    db: infra.Database,
    port: int,
    devices: int,
    connections: int,
    seconds: int,
    workers: int,
    load0: tuple[float, float, float],
    only: str | None,
) -> int:
    base = f"http://127.0.0.1:{port}"
    _wait_ready(base, api)
    print("Seeding (INSERT … SELECT generate_series, then VACUUM ANALYZE)", flush=True)
    present = asyncio.run(_count(url))
    seed_s = asyncio.run(seed(url, devices)) if present == 0 else 0.0
    if present:
        print(f"  {present:,} devices present already: not seeded", flush=True)
    ids = asyncio.run(sample_ids(url))
    if not ids:
        raise RuntimeError("no device to sample for the detail and history cases")
    (root / "ids.txt").write_text("\n".join(ids) + "\n")
    postmaster = db.pid or asyncio.run(_postmaster_pid(url))
    procs = {"ledger-api": api.pid, **({"postgres": postmaster} if postmaster else {})}
    sampler = Sampler(procs)
    sampler.start()
    cases: list[tuple[str, str, Path | None]] = [(n, base + p, None) for n, p in CASES]
    for name, suffix in RANDOM_CASES:
        lua = root / f"{name.split()[0]}.lua"
        lua.write_text(_LUA_RANDOM % {"ids": root / "ids.txt", "suffix": suffix})
        cases.append((name, base + "/v1/devices", lua))
    if only:
        cases = [c for c in cases if only in c[0]]
    results: list[dict[str, Any]] = []
    client = httpx.Client(headers={"Authorization": f"Bearer {TOKEN}"}, timeout=60)
    print(
        "\n| case | p50 ms | p99 ms | req/s | CPU ms per request: API / PostgreSQL | load avg |"
        "\n|---|---:|---:|---:|---|---:|"
    )
    for name, target, script in cases:
        if script is None:  # a first request: it must answer 200 (wrk only counts non-2xx)
            check = client.get(target)
            check.raise_for_status()
            matched = len(check.json()["items"])
        else:  # the random cases: a request of theirs must answer 200 too
            for suffix in ("", "/history"):
                client.get(f"{base}/v1/devices/{ids[0]}{suffix}").raise_for_status()
            matched = None
        cpu0 = cpu_seconds(procs)
        out = run_wrk(target, connections=connections, seconds=seconds, script=script)
        (root / "wrk").mkdir(exist_ok=True)
        (root / "wrk" / f"{len(results):02d}.txt").write_text(f"{name}\n{out}")
        cpu1 = cpu_seconds(procs)
        r = parse_wrk(out) | {
            "case": name,
            "path": target.removeprefix(base),
            "items_on_first_page": matched,
            "cpu_s": {k: round(cpu1[k] - cpu0.get(k, 0), 2) for k in cpu1},
            "load_avg_1m": round(os.getloadavg()[0], 2),
        }
        # CPU per request: what a quieter machine turns into throughput (the wall numbers share
        # 2 cores with whatever else runs; the load average is printed beside them).
        n = max(r["requests"], 1)
        r["cpu_ms_per_request"] = {k: round(v * 1000 / n, 2) for k, v in r["cpu_s"].items()}
        results.append(r)
        cpu = r["cpu_ms_per_request"]
        flag = (
            f" ({r['non_2xx']} non-2xx, {r['socket_errors']} socket errors!)"
            if r["non_2xx"] or r["socket_errors"]
            else ""
        )
        print(
            f"| {name}{flag} | {r['p50_ms']} | {r['p99_ms']} | {r['req_per_s']:.0f} | "
            f"{cpu.get('ledger-api', 0):.2f} / {cpu.get('postgres', 0):.2f} | {r['load_avg_1m']} |",
            flush=True,
        )
    client.close()
    exported = export(base, sampler, "ledger-api") if not only or "export" in only else None
    if exported:
        print(
            f"\nexport.csv: {exported['rows']:,} devices, {exported['mib']} MiB in {exported['seconds']} s; "
            f"API peak RSS during it {exported['api_peak_rss_mib']} MiB"
        )
    sampler.done.set()
    sampler.join()
    workers_rss = per_process_rss(api.pid)
    pss = {name: pss_mib(pid) for name, pid in procs.items()}
    print("PSS at the end (shared pages split): " + ", ".join(f"{k} {v} MiB" for k, v in pss.items()))
    print(
        "Peak RSS over the bench (process + children): "
        + ", ".join(f"{k} {v / 2**20:.0f} MiB" for k, v in sorted(sampler.peak.items()))
    )
    print(f"  ledger-api per process now (supervisor and workers), MiB: {workers_rss}")
    results_file = root.parent / "bench-api-results.json"
    results_file.write_text(
        json.dumps(
            {
                "devices": devices,
                "workers": workers,
                "connections": connections,
                "seconds_per_case": seconds,
                "seed_seconds": round(seed_s, 1),
                "load_avg_start": load0,
                "load_avg_end": os.getloadavg(),
                "cases": results,
                "export": exported,
                "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()},
                "api_rss_mib_per_process": workers_rss,
                "pss_mib_at_end": pss,
            },
            indent=2,
        )
    )
    print(f"Results written to {results_file}")
    return 0


def cli(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m devstack.bench_api", description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2, help="LEDGER_API_WORKERS (default 2: one per core)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--only", help="run only the cases whose name contains this text")
    args = parser.parse_args(argv)
    return main(args.devices, args.workers, args.connections, args.seconds, args.only)


if __name__ == "__main__":
    sys.exit(cli())
