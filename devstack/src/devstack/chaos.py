"""Chaos (issue 9 item 6): one scenario run clean and run with services SIGKILLed at seeded random
points, and the outcomes compared.

The scenario, on both simulated MDMs with a fixed seed: a first sync of both master links; changes
in the MDMs (edits, removals, new devices) through the simulators' control APIs and a re-sync of
both; an unlink of the Intune link keeping its devices; a re-link of the same integration and its
first sync. In a chaos round, during every step, services (reconciler, ledger API, each connector,
PostgreSQL) are killed with SIGKILL at random points and restarted at once; the simulators (the
MDMs) and the broker (memory only: see `infra.Broker`) are never killed.

What must be equal to the clean run (`compare`): the devices field by field — identified by their
MDM binding (integration, MDM id) or, unbound, by (source, serial, asset number, name) — without
the values that legitimately differ between two runs (device ids, timestamps); each step's run
status and counts; the conflicts (with the devices they name, by identity); and on
`ledger.changes.v1` no two different change events for one (device id, version).
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from ledger_contracts import codec, topics

from .kafka_io import read_topic
from .stack import INTUNE_INTEGRATION, Stack, StackConfig

VICTIMS = ("reconciler", "ledger-api", "intune-connector", "jamf-connector", "postgres")
RELINK = "ml-intune-relink"
# Values that differ between two correct runs: generated ids and clock readings.
VOLATILE = {
    "device_id",
    "conflict_id",
    "sync_run_id",
    "event_id",
    "command_id",
    "attempt_id",
    "created_at",
    "updated_at",
    "last_seen_at",
    "detected_at",
    "resolved_at",
    "occurred_at",
    "requested_at",
    "started_at",
    "finished_at",
    "duration_seconds",
    "removed_at",
    "recorded_at",
    "resolved_by",  # the id of the command (or actor) that resolved a conflict
}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# The Jamf simulator dates its fleet relative to "now"; both runs must see the same fleet.
FIXED_NOW = "2026-11-01T00:00:00Z"


@dataclass
class Outcome:
    devices: dict[str, dict[str, Any]]  # identity -> device without volatile fields
    runs: list[tuple[str, str, dict[str, Any]]]  # (step, status, counts) in scenario order
    conflicts: list[str]  # normalised JSON, sorted
    change_clashes: list[str]  # (device_id, version) with two different change events
    kills: list[str] = field(default_factory=list)  # what the chaos did, for the report


def config(root: Path, devices: int, api_port: int, seed: int = 7) -> StackConfig:
    """The stack of a scenario: `devices` in all, two thirds Intune, one third Jamf."""
    jamf = devices // 3
    return StackConfig(
        root=root,
        intune_devices=devices - jamf,
        jamf_computers=jamf * 3 // 4,
        jamf_mobiles=jamf - jamf * 3 // 4,
        api_port=api_port,
        seed=seed,
        session_timeout_ms=2000,
        jamf_sim_args=["--fixed-now", FIXED_NOW],
    )


# --- the scenario ------------------------------------------------------------------------------


class Chaos:
    """Kills services at seeded random points of each step (None: the clean reference run)."""

    def __init__(self, stack: Stack, seed: int | None, kills_per_step: int = 2, window_s: float = 3.0):
        self.stack, self.kills_per_step, self.window_s = stack, kills_per_step, window_s
        self.rng = random.Random(seed) if seed is not None else None
        self.queue: list[str] = []
        self.log: list[str] = []

    def _victim(self) -> str:
        assert self.rng is not None
        if not self.queue:  # every service once before any twice
            self.queue = list(VICTIMS)
            self.rng.shuffle(self.queue)
        victim = self.queue.pop()
        if victim.endswith("-connector") and victim not in self.stack.procs:
            return self._victim()
        return victim

    def supervise(self) -> None:
        """What systemd or Kubernetes would do: start a service again that exited by itself. No
        service should need it (the reconciler and the API ride out a PostgreSQL crash): a round
        in which it restarted anything fails (`main`, `tests/e2e/test_chaos.py`). The clean run
        has no supervisor: a service that exits there fails it."""
        if self.rng is None:
            self.stack.check_alive()
            return
        for name, proc in list(self.stack.procs.items()):
            if proc.popen.poll() is not None:
                code = proc.popen.returncode
                self.stack.restart(name)
                self.log.append(f"supervisor: {name} had exited ({code}); restarted")

    def wait_run(self, sync_run_id: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.supervise()
            try:
                with self.stack.client() as c:
                    run: dict[str, Any] = c.get(f"/v1/sync-runs/{sync_run_id}").json()
                if run.get("status") in ("completed", "failed"):
                    return run
            except (httpx.HTTPError, ValueError):
                pass  # the API may be restarting
            time.sleep(0.1)  # polling the API for the run's end
        raise TimeoutError(f"sync run {sync_run_id} did not finish in {timeout}s")

    def during(self, step: str, kills: int | None = None) -> None:
        """Called right after a step was started: kill and restart services at random points."""
        if self.rng is None:
            return
        for _ in range(self.kills_per_step if kills is None else kills):
            delay = self.rng.uniform(0.0, self.window_s)
            victim = self._victim()
            time.sleep(delay)  # the seeded random point of the step at which the kill lands
            t0 = time.monotonic()
            if victim == "postgres":
                self.stack.restart_database(crash=True)
            else:
                self.stack.kill(victim)
                self.stack.restart(victim)
            self.log.append(
                f"{step}: SIGKILL {victim} at +{delay:.2f}s, back in {time.monotonic() - t0:.1f}s"
            )


def sim_call(stack: Stack, mdm: str, method: str, path: str, body: Any = None) -> Any:
    info = stack.sims[mdm]
    ctx = ssl.create_default_context(cafile=info["ca"])
    with httpx.Client(base_url=info["base_url"], verify=ctx, trust_env=False, timeout=60) as c:
        r = c.request(method, f"/_sim{path}", json=body)
        r.raise_for_status()
        return r.json() if r.content else None


def mutate_mdms(stack: Stack, seed: int) -> None:
    """Seeded edits, removals and additions in both simulated MDMs (the same in every round)."""
    from mdm_sim.graph import generate_devices
    from mdm_sim.jamf import generate_computers

    rng = random.Random(seed)
    graph = sorted(sim_call(stack, "intune", "GET", "/devices")["value"], key=lambda d: str(d["id"]))
    n = len(graph)
    picked = rng.sample(graph, k=max(3, n // 10))
    edits, removals = picked[: len(picked) * 2 // 3], picked[len(picked) * 2 // 3 :]
    for i, d in enumerate(edits):
        changes = {"osVersion": f"99.{i}.0", "userPrincipalName": f"moved{i}@example.com"}
        sim_call(stack, "intune", "PUT", f"/devices/{d['id']}", changes)
    for d in removals:
        sim_call(stack, "intune", "DELETE", f"/devices/{d['id']}")
    added = generate_devices(max(2, n // 30), seed=seed + 1)
    for i, d in enumerate(added):
        d["id"] = f"00000000-0000-4000-8000-{i:012d}"
        d["serialNumber"] = f"CHAOS{seed}N{i:05d}"
    sim_call(stack, "intune", "POST", "/devices", added)

    computers = generate_computers(stack.config.jamf_computers, seed=stack.config.seed)
    if computers:
        picked = rng.sample(computers, k=max(3, len(computers) // 10))
        for i, c in enumerate(picked[: len(picked) // 2]):
            sim_call(stack, "jamf", "PATCH", f"/computers/{c['id']}", {"general": {"name": f"Renamed {i}"}})
        for c in picked[len(picked) // 2 :]:
            sim_call(stack, "jamf", "DELETE", f"/computers/{c['id']}")
        fixed = datetime.fromisoformat(FIXED_NOW.replace("Z", "+00:00"))
        fresh = generate_computers(max(2, len(computers) // 30), seed=seed + 2, now=fixed)
        top = max(int(c["id"]) for c in computers)
        for i, c in enumerate(fresh):
            c["id"] = str(top + 100 + i)
            c["hardware"]["serialNumber"] = f"CHAOS{seed}J{i:05d}"
        sim_call(stack, "jamf", "POST", "/computers", fresh)


def _wait(chaos: Chaos, check: Callable[[], bool], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chaos.supervise()
        try:
            if check():
                return
        except httpx.HTTPError:
            pass  # the API may be restarting
        time.sleep(0.2)  # polling the API for an outcome
    raise TimeoutError(f"{what}: not reached in {timeout}s")


def _sync_all(stack: Stack, chaos: Chaos, step: str, timeout: float) -> list[tuple[str, str, dict[str, Any]]]:
    """One link after the other: two runs at once would make the outcome depend on how their
    devices interleave (which of two same-named devices takes a name first, R-J3), a race that
    is not the subject here."""
    out = []
    for link in [link["master_link_id"] for link in stack.links]:
        run_id = stack.sync(link)["sync_run_id"]
        chaos.during(f"{step} {link}", kills=1)
        run = chaos.wait_run(run_id, timeout=timeout)
        out.append((f"{step} {link}", run["status"], run.get("counts") or {}))
    return out


def run_scenario(stack: Stack, chaos: Chaos, *, mutation_seed: int = 11, timeout: float = 600) -> Outcome:
    runs = _sync_all(stack, chaos, "first sync", timeout)
    mutate_mdms(stack, mutation_seed)
    runs += _sync_all(stack, chaos, "re-sync", timeout)

    with stack.client() as c:
        c.delete("/v1/master-links/ml-intune-demo", params={"keep_devices": "true"}).raise_for_status()
    chaos.during("unlink")
    _wait(chaos, lambda: stack.count_devices(source="intune") == 0, "unlink applied", timeout)

    body = {
        "integration_id": INTUNE_INTEGRATION,
        "master_link_id": RELINK,
        "matching_key": stack.config.matching_key,
        "asset_number_source": stack.config.asset_number_source,
    }
    with stack.client() as c:
        created = c.post("/v1/master-links", json=body).raise_for_status().json()
    chaos.during("re-link")
    run = chaos.wait_run(created["sync_run"]["sync_run_id"], timeout=timeout)
    runs.append((f"re-link {RELINK}", run["status"], run.get("counts") or {}))
    return snapshot(stack, runs, chaos.log)


# --- what is compared ------------------------------------------------------------------------


def identity(device: dict[str, Any]) -> str:
    b = device.get("binding")
    if b:
        return f"bound {b['integration_id']} {b['mdm_device_id']}"
    key = (
        device.get("source"),
        device.get("serial_number"),
        device.get("asset_number"),
        device.get("device_name"),
    )
    return "unbound " + json.dumps(key)


def _strip(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k.endswith("device_id") and k != "mdm_device_id" and isinstance(v, str) and v in ids:
                out[k.removesuffix("_id")] = ids[v]  # which device, by identity
            elif k not in VOLATILE:
                out[k] = _strip(v, ids)
        return out
    if isinstance(value, list):
        return [_strip(v, ids) for v in value]
    if isinstance(value, str) and ids:  # device ids inside messages name devices by identity too
        return UUID.sub(lambda m: f"<{ids[m.group(0)]}>" if m.group(0) in ids else m.group(0), value)
    return value


def _all_pages(stack: Stack, path: str, **params: str) -> list[dict[str, Any]]:
    items, cursor = [], None
    with stack.client() as c:
        while True:
            query = {"limit": "500", **params} | ({"cursor": cursor} if cursor else {})
            body = c.get(path, params=query).raise_for_status().json()
            items += body["items"]
            cursor = body.get("next_cursor")
            if not cursor:
                return items


def snapshot(stack: Stack, runs: list[tuple[str, str, dict[str, Any]]], kills: list[str]) -> Outcome:
    raw = _all_pages(stack, "/v1/devices")
    ids = {d["device_id"]: identity(d) for d in raw}
    devices: dict[str, dict[str, Any]] = {}
    for d in raw:
        key = ids[d["device_id"]]
        if key in devices:  # two devices with one identity: keep both visible to the comparison
            key = f"{key} #{sum(k.startswith(key) for k in devices)}"
        devices[key] = _strip(d, ids)
    conflicts = sorted(json.dumps(_strip(c, ids), sort_keys=True) for c in _all_pages(stack, "/v1/conflicts"))
    return Outcome(devices, runs, conflicts, change_clashes(stack), list(kills))


def change_clashes(stack: Stack) -> list[str]:
    """(device_id, version) pairs with two different change events on ledger.changes.v1."""
    assert stack.broker is not None
    topic = topics.named(topics.CHANGES, stack.config.topic_prefix)
    events = asyncio.run(read_topic(stack.broker.bootstrap_servers, topic, codec.change_adapter, timeout=120))
    seen: dict[tuple[str, int], set[str]] = {}
    for e in events:
        if getattr(e, "type", None) != "device_changed":
            continue
        body = e.model_dump_json(exclude={"event_id", "occurred_at"})
        seen.setdefault((str(e.device_id), e.version), set()).add(body)
    return [
        f"{dev} v{ver}: {len(bodies)} different events"
        for (dev, ver), bodies in seen.items()
        if len(bodies) > 1
    ]


def _flat(value: Any, prefix: str = "") -> dict[str, str]:
    if isinstance(value, dict):
        return {k: v for key, item in value.items() for k, v in _flat(item, f"{prefix}{key}.").items()}
    if isinstance(value, list):
        return {k: v for i, item in enumerate(value) for k, v in _flat(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): json.dumps(value)}


def compare(reference: Outcome, other: Outcome, limit: int = 20) -> list[str]:
    """Every difference, described (empty: the same outcome)."""
    diffs: list[str] = []
    lost = sorted(set(reference.devices) - set(other.devices))
    extra = sorted(set(other.devices) - set(reference.devices))
    diffs += [f"lost device {k}" for k in lost[:limit]] + (["… more lost"] if len(lost) > limit else [])
    diffs += [f"extra device {k}" for k in extra[:limit]] + (["… more extra"] if len(extra) > limit else [])
    different = [
        k
        for k in sorted(set(reference.devices) & set(other.devices))
        if reference.devices[k] != other.devices[k]
    ]
    for k in different[:limit]:
        a, b = reference.devices[k], other.devices[k]
        fields = sorted(f for f in set(a) | set(b) if a.get(f) != b.get(f))
        diffs.append(f"device {k}: " + "; ".join(f"{f} {a.get(f)!r} != {b.get(f)!r}" for f in fields))
    if len(different) > limit:
        diffs.append(f"… {len(different) - limit} more different devices")
    for (step, status, counts), (step2, status2, counts2) in zip(reference.runs, other.runs, strict=False):
        if (step, status, counts) != (step2, status2, counts2):
            diffs.append(f"run {step}: {status} {counts} != {step2}: {status2} {counts2}")
    if len(reference.runs) != len(other.runs):
        diffs.append(f"{len(reference.runs)} runs != {len(other.runs)}")
    if reference.conflicts != other.conflicts:
        only_ref = sorted(set(reference.conflicts) - set(other.conflicts))
        only_other = sorted(set(other.conflicts) - set(reference.conflicts))
        diffs.append(f"conflicts differ: {len(only_ref)} only in the clean run, {len(only_other)} only here")
        for c in only_ref[:3] if only_other else []:
            mine = _flat(json.loads(c))
            nearest = min(
                only_other, key=lambda o: len(set(_flat(json.loads(o)).items()) ^ set(mine.items()))
            )
            theirs = _flat(json.loads(nearest))
            keys = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
            diffs.append("  e.g. " + "; ".join(f"{k}: {mine.get(k)} != {theirs.get(k)}" for k in keys))
    diffs += [f"change events clash: {c}" for c in other.change_clashes[:limit]]
    return diffs


# --- `make chaos` --------------------------------------------------------------------------------


def main(devices: int, rounds: int, seed: int) -> int:
    from .demo import REPO
    from .infra import free_port

    root = REPO / ".run" / "chaos"
    print(f"Chaos: {devices} devices, {rounds} rounds, seed {seed} (logs: {root}/…/logs)", flush=True)
    t0 = time.monotonic()
    with Stack(config(root / "reference", devices, free_port(), seed)) as stack:
        reference = run_scenario(stack, Chaos(stack, None))
    print(
        f"  reference: {len(reference.devices)} devices, {len(reference.conflicts)} conflicts, "
        f"{time.monotonic() - t0:.0f} s",
        flush=True,
    )
    for step, status, counts in reference.runs:
        print(f"    {step:<32} {status:<10} {counts}")
    failed = 0
    for r in range(1, rounds + 1):
        t0 = time.monotonic()
        with Stack(config(root / f"round-{r}", devices, free_port(), seed)) as stack:
            # Kill points spread over the longer steps of a larger fleet.
            chaos = Chaos(stack, seed * 1000 + r, window_s=max(3.0, devices / 1500))
            try:
                outcome = run_scenario(stack, chaos)
                diffs = compare(reference, outcome)
                diffs += [
                    f"{line}: a service died by itself"
                    for line in chaos.log
                    if line.startswith("supervisor:")
                ]
            except Exception as exc:  # a round that cannot finish is a failed round, with its reason
                diffs = [f"round did not finish: {type(exc).__name__}: {exc}"]
        failed += bool(diffs)
        print(
            f"  round {r}: {'DIFFERENT' if diffs else 'same'} ({len(chaos.log)} kills, "
            f"{time.monotonic() - t0:.0f} s)",
            flush=True,
        )
        for line in chaos.log:
            print(f"    {line}")
        for d in diffs:
            print(f"    ! {d}")
    print(f"\n{rounds - failed} of {rounds} rounds equal to the clean run", flush=True)
    return 1 if failed else 0
