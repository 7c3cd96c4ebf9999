"""`make bench`: the same pipeline on real processes, with many simulated devices.

For a first full sync and a no-change re-sync of each source, it measures the wall time from the
sync request until every change is queryable (the API reports the run completed only after it has
projected the run's summary, which the reconciler publishes after every device change of the run,
on the same partition), devices per second, and the peak RSS of each service.
First, in the same run, each source's floor: its connector's pull, translation and publish alone
(`libs/connector-kit/scripts/bench_pull.py`); every phase is printed as a ratio to that floor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from .demo import REPO
from .infra import free_port
from .stack import Stack, StackConfig


class RssSampler(threading.Thread):
    def __init__(self, stack: Stack, interval: float = 0.1) -> None:
        super().__init__(daemon=True)
        self.stack, self.interval = stack, interval
        self.peak: dict[str, int] = {}
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(self.interval):
            for name, pid in pids(self.stack).items():
                try:
                    p = psutil.Process(pid)
                    rss = p.memory_info().rss + sum(c.memory_info().rss for c in p.children(recursive=True))
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0), rss)


def pids(stack: Stack) -> dict[str, int]:
    """The services, simulators, the broker and the database (its postmaster and backends)."""
    out = {name: proc.popen.pid for name, proc in stack.procs.items()}
    if stack.broker and stack.broker.process:
        out["tansu (broker)"] = stack.broker.process.pid
    if stack.database and (pid := stack.database.pid):
        out["postgres"] = pid
    return out


def cpu_seconds(stack: Stack) -> dict[str, float]:
    out = {}
    for name, pid in pids(stack).items():
        try:
            p = psutil.Process(pid)
            times = [p.cpu_times(), *(c.cpu_times() for c in p.children(recursive=True))]
            out[name] = sum(t.user + t.system for t in times)
        except psutil.Error:
            continue
    return out


def timed_sync(stack: Stack, link_id: str) -> dict[str, Any]:
    cpu0 = cpu_seconds(stack)
    t0 = time.perf_counter()
    run = stack.wait_run(stack.sync(link_id)["sync_run_id"], timeout=1800)
    seconds = time.perf_counter() - t0
    seen = (run.get("counts") or {}).get("seen", 0)
    cpu1 = cpu_seconds(stack)
    cpu = {k: round(cpu1[k] - cpu0.get(k, 0), 2) for k in cpu1 if cpu1[k] - cpu0.get(k, 0) >= 0.05}
    return {
        "cpu_s": cpu,
        "link": link_id,
        "status": run["status"],
        "seconds": round(seconds, 2),
        "seen": seen,
        "devices_per_s": round(seen / seconds) if seconds else 0,
        "counts": run.get("counts"),
    }


def pull_floor(source: str, argv: list[str]) -> dict[str, Any]:
    """The source's floor (issue 12 item 5): its connector's pull, translation and publish alone,
    against the same simulator, without the ledger (`libs/connector-kit/scripts/bench_pull.py`).
    Two runs; the faster one counts (the second is served from a warm simulator)."""
    script = REPO / "libs" / "connector-kit" / "scripts" / "bench_pull.py"
    out = subprocess.run(
        [sys.executable, str(script), source, *argv, "--runs", "2"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    lines = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    runs = [line for line in lines if "seconds" in line and line.get("status") == "completed"]
    if out.returncode or not runs:
        return {"error": (out.stderr or out.stdout)[-500:]}
    best = min(runs, key=lambda r: r["seconds"])
    rss = next(
        (
            line["connector_process_peak_rss_mib"]
            for line in lines
            if "connector_process_peak_rss_mib" in line
        ),
        None,
    )
    return {"seconds": best["seconds"], "devices": best["devices"], "runs": runs, "peak_rss_mib": rss}


def main(devices: int, jamf: int) -> int:
    config = StackConfig(
        root=REPO / ".run" / "bench",
        intune_devices=devices,
        jamf_computers=jamf * 3 // 5,
        jamf_mobiles=jamf - jamf * 3 // 5,
        api_port=free_port(),
        asset_number_source="uuid",
    )
    print(
        f"Benchmark: {devices} Intune devices, {jamf} Jamf devices (logs: {config.root / 'logs'})", flush=True
    )
    load = os.getloadavg()
    print(f"  load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores", flush=True)
    floors = {
        "intune": pull_floor("intune", ["--devices", str(devices)]),
        "jamf": pull_floor(
            "jamf", ["--computers", str(jamf * 3 // 5), "--mobiles", str(jamf - jamf * 3 // 5)]
        ),
    }
    for source, measured in floors.items():
        if "seconds" in measured:
            print(
                f"  floor {source:<7} pull + translate + publish alone: {measured['seconds']:>7.2f} s",
                flush=True,
            )
        else:
            print(f"  floor {source:<7} not measured: {measured['error']}", flush=True)
    with Stack(config) as stack:
        sampler = RssSampler(stack)
        sampler.start()
        results = []
        for link in stack.links:
            for phase in ("first full sync", "no-change re-sync"):
                r = timed_sync(stack, link["master_link_id"]) | {"phase": phase}
                floor = floors["jamf" if "jamf" in link["mdm_kind"] else "intune"].get("seconds")
                r["x_floor"] = round(r["seconds"] / floor, 2) if floor else None
                results.append(r)
                ratio = "" if r["x_floor"] is None else f"{r['x_floor']:>6.2f} × floor"
                print(
                    f"  {r['link']:<16} {phase:<18} {r['status']:<9} {r['seen']:>7} devices "
                    f"{r['seconds']:>7.2f} s {r['devices_per_s']:>7} devices/s {ratio}",
                    flush=True,
                )
        sampler.done.set()
        sampler.join()
    print("\nPeak RSS per process")
    for name, rss in sorted(sampler.peak.items()):
        print(f"  {name:<18} {rss / 2**20:8.1f} MiB")
    out = Path(config.root).parent / "bench-results.json"
    out.write_text(
        json.dumps(
            {
                "load_avg_start": load,
                "floors": floors,
                "runs": results,
                "peak_rss_mib": {k: round(v / 2**20, 1) for k, v in sampler.peak.items()},
            },
            indent=2,
        )
    )
    print(f"\nResults written to {out}")
    return 0 if all(r["status"] == "completed" for r in results) else 1
