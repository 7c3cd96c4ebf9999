"""`make demo`: the whole system on embedded parts, a first sync of the simulated tenants, the API."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from . import infra
from .stack import PortInUse, Stack, StackConfig

REPO = Path(__file__).resolve().parents[3]


def intune_samples() -> list[Path]:
    """Every published Graph payload: ../shared/samples/intune beside the clone, else the repo's copy."""
    if os.environ.get("MDM_SIM_INTUNE_DEVICES"):
        return []  # the simulator serves that file instead
    for d in (
        REPO.parent / "shared" / "samples" / "intune",
        REPO / "services/intune-connector/tests/samples",
    ):
        if d.is_dir() and any(d.glob("*.json")):
            return [d]
    return []


def summary(stack: Stack, runs: list[dict[str, Any]]) -> str:
    cols = ("seen", "created", "updated", "unchanged", "conflicts", "errors")
    lines = ["", "Sync runs"]
    lines.append(f"  {'master link':<16} {'status':<10} " + " ".join(f"{c:>9}" for c in cols) + "   seconds")
    for run in runs:
        counts = run.get("counts") or {}
        lines.append(
            f"  {run['master_link_id']:<16} {run['status']:<10} "
            + " ".join(f"{counts.get(c, 0):>9}" for c in cols)
            + f"   {run.get('_seconds', 0):7.2f}"
        )
        if run.get("error"):
            lines.append(f"    error: {run['error']}")
    lines += ["", "Devices by source"]
    total = 0
    for source in ("intune", "jamf_pro", "manual"):
        n = stack.count_devices(source=source)
        total += n
        lines.append(f"  {source:<10} {n:>7}")
    lines.append(f"  {'total':<10} {total:>7}")
    return "\n".join(lines)


def run_syncs(stack: Stack) -> list[dict[str, Any]]:
    runs = []
    for link in stack.links:
        t0 = time.perf_counter()
        started = stack.sync(link["master_link_id"])
        run = stack.wait_run(started["sync_run_id"])
        run["_seconds"] = time.perf_counter() - t0
        runs.append(run)
    return runs


class Stopped(Exception):
    """The demo was asked to stop (SIGINT, SIGTERM or SIGHUP)."""


def _raise_stopped(signum: int, _frame: object) -> None:
    raise Stopped(signal.Signals(signum).name)


def main(
    once: bool,
    devices: int,
    jamf: int,
    *,
    api_port: int = 8000,
    run_dir: Path | None = None,
    shared_macs: int = 0,
) -> int:
    """Run the demo until a signal. However it ends — Ctrl-C, SIGTERM, SIGHUP, an error, or this
    process killed outright — every process it started stops: a signal unwinds into `stack.stop()`,
    and each child carries PR_SET_PDEATHSIG, so the kernel kills it when this process dies."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _raise_stopped)
    infra.set_own_parent_death_signal(signal.SIGTERM)  # `make` killed: stop cleanly too
    config = StackConfig(
        root=run_dir or REPO / ".run" / "demo",
        intune_devices=devices,
        intune_samples=intune_samples(),
        jamf_computers=jamf * 3 // 5,
        jamf_mobiles=jamf - jamf * 3 // 5,
        api_port=api_port,
        shared_macs=shared_macs,
    )
    stack = Stack(config)
    try:
        stack.preflight()
    except (infra.LeftoverServer, PortInUse) as exc:
        print(f"devstack demo: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    print(
        f"Starting broker, database, simulated tenants and services (logs: {config.root / 'logs'}) …",
        flush=True,
    )
    try:
        stack.start()
        runs = run_syncs(stack)
        print(summary(stack, runs), flush=True)
        print(f"\nLedger API ready at {stack.api_url}", flush=True)
        print(f"  token:  {config.token}   (set LEDGER_DEMO_TOKEN to choose it)")
        auth = f"Authorization: Bearer {config.token}"
        print(f"  try:    curl -s -H '{auth}' '{stack.api_url}/v1/devices?limit=3'")
        print(f"  docs:   {stack.api_url}/docs", flush=True)
        print(f"  console: {stack.console_url}   (sign in with the token)", flush=True)
        if any(r["status"] != "completed" for r in runs):
            return 1
        if once:
            return 0
        print("\nServing until interrupted (Ctrl-C).", flush=True)
        while True:
            time.sleep(1.0)  # the signal handlers end this loop
            stack.check_alive()
    except Stopped as exc:
        print(f"\nStopping ({exc}) …", flush=True)
        return 0
    except (infra.LeftoverServer, PortInUse) as exc:  # a race with another start
        print(f"devstack demo: cannot start: {exc}", file=sys.stderr, flush=True)
        return 2
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)  # a second Ctrl-C must not cut the stop short
        stack.stop()
