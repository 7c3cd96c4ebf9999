"""The golden scenario runner (tests/scenarios/*.json): one scenario through the pipeline, over the
in-memory store (unit tier) or PostgreSQL (integration tier: the same corpus, the same results).

A scenario is data: links, then steps — ledger commands, sync runs (snapshots), conflict
resolutions, unlinks — and `expect` blocks checked where they stand. See scenarios/README.md for
the format. Everything is deterministic: ids are uuid5 of the scenario and step, step k happens at
T0 + k hours and its i-th record i seconds later.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from ledger_contracts import (
    CreateDevice,
    DeleteDevice,
    DeviceFieldsInput,
    DeviceObserved,
    Event,
    LedgerDevice,
    LedgerDeviceChanged,
    MasterLinkChanged,
    MasterLinkSettings,
    ObservedDevice,
    RecordIssue,
    ResolveConflict,
    SetMdmPriority,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
    SyncRunSummary,
    UnlinkMasterLink,
    UpdateDevice,
)
from reconciler.core import ConflictRecord, binding_keys, bindings_of, normalise
from reconciler.model import Record

from .doubles import MemoryStore

TENANT = "t"
T0 = datetime(2026, 11, 26, 6, tzinfo=UTC)
NS = uuid.UUID("0f6f0e8e-5d2c-4c1a-8f4e-2b6c9d1e7a30")


class Backend(Protocol):
    """Where a scenario runs: it processes records and shows the state it holds."""

    devices: dict[uuid.UUID, LedgerDevice]
    conflicts: dict[uuid.UUID, ConflictRecord]

    async def handle(self, records: list[Record]) -> None: ...
    def events(self) -> list[Any]: ...
    def topics(self) -> set[str]: ...


class Scenario:
    def __init__(self, name: str, spec: dict[str, Any], backend: Backend | None = None) -> None:
        self.name, self.spec = name, spec
        self.store: Backend = backend or MemoryStore()
        self.links = {k: MasterLinkSettings(**v) for k, v in spec["links"].items()}
        self.refs: dict[str, uuid.UUID] = {}
        self.step = 0
        self.offset = 0
        self.last_dry_run: uuid.UUID | None = None

    # --- building records ----------------------------------------------------------------------

    def _id(self, *parts: object) -> uuid.UUID:
        return uuid.uuid5(NS, ":".join(map(str, (self.name, self.step, *parts))))

    def _event(self, cls: type[Event], i: int = 0, **kw: Any) -> Event:
        at = T0 + timedelta(hours=self.step, seconds=i)
        return cls(event_id=self._id("event", i), occurred_at=at, tenant_id=TENANT, **kw)

    async def _handle(self, messages: list[Event]) -> None:
        records = []
        for m in messages:
            records.append(Record("in", 0, self.offset, m))
            self.offset += 1
        await self.store.handle(records)

    def device_id(self, ref: str) -> uuid.UUID:
        if ref not in self.refs:
            self.refs[ref] = uuid.uuid5(NS, f"{self.name}:device:{ref}")
        return self.refs[ref]

    # --- steps ---------------------------------------------------------------------------------

    async def run(self) -> None:
        for step in self.spec["steps"]:
            self.step += 1
            ((kind, body),) = step.items()
            if kind == "expect":
                check_expectations(self, body)
            else:
                await getattr(self, f"_{kind}")(body)
            self._remember_bindings()
            check_invariants(self.store)

    async def _create(self, body: dict[str, Any]) -> None:
        fields = DeviceFieldsInput(**body["fields"])
        await self._handle([self._event(CreateDevice, device_id=self.device_id(body["ref"]), fields=fields)])

    async def _update(self, body: dict[str, Any]) -> None:
        fields = DeviceFieldsInput(**body["fields"])
        await self._handle([self._event(UpdateDevice, device_id=self.device_id(body["ref"]), fields=fields)])

    async def _delete(self, body: dict[str, Any]) -> None:
        await self._handle([self._event(DeleteDevice, device_id=self.device_id(body["ref"]))])

    def _link(self, body: dict[str, Any]) -> MasterLinkSettings:
        """The link a step names; `generation` overrides the link's (R-M12: a stale or early run)."""
        link = self.links[body.get("link", next(iter(self.links)))]
        if "generation" in body:
            link = link.model_copy(update={"generation": body["generation"]})
        return link

    async def _sync(self, body: dict[str, Any]) -> None:
        """A run. `restart_after: k` (R-M13): a first attempt publishes its start and k devices and
        dies; a second attempt of the same run publishes the start again, every device and the end.
        `run: name` names the run so that a later step (`continue`) can carry on with it.
        A device's `warnings` (R-M14) ride on its DeviceObserved; `skipped_issues` on the end."""
        link = self._link(body)
        run_id = self._id("run") if "run" not in body else uuid.uuid5(NS, f"{self.name}:run:{body['run']}")
        dry = body.get("dry_run", False)
        if dry:
            self.last_dry_run = run_id
        devices, warnings = [], []
        for raw in body["devices"]:
            d = dict(raw)
            warnings.append(tuple(RecordIssue(**w) for w in d.pop("warnings", [])))
            devices.append(ObservedDevice(**d))
        common = {"sync_run_id": run_id, "integration_id": link.integration_id}
        attempts = [uuid.uuid5(NS, f"{self.name}:{self.step}:attempt:{a}") for a in range(2)]
        msgs: list[Event] = []
        i = 0
        if "restart_after" in body:
            attempt = attempts[0]
            msgs.append(
                self._event(
                    SyncRunStarted, i, sync_run_id=run_id, master_link=link, dry_run=dry, attempt_id=attempt
                )
            )
            for d, w in list(zip(devices, warnings, strict=True))[: body["restart_after"]]:
                i += 1
                msgs.append(
                    self._event(DeviceObserved, i, device=d, warnings=w, attempt_id=attempt, **common)
                )
            i += 1
        attempt = attempts[1] if "restart_after" in body else None
        if not body.get("continue"):
            msgs.append(
                self._event(
                    SyncRunStarted, i, sync_run_id=run_id, master_link=link, dry_run=dry, attempt_id=attempt
                )
            )
        for d, w in zip(devices, warnings, strict=True):
            i += 1
            msgs.append(self._event(DeviceObserved, i, device=d, warnings=w, attempt_id=attempt, **common))
        end, n = body.get("end", "completed"), i + 1
        if end == "completed":
            skipped = [RecordIssue(kind="skipped", **x) for x in body.get("skipped_issues", [])]
            msgs.append(
                self._event(
                    SyncRunCompleted,
                    n,
                    devices_observed=len(devices),
                    devices_skipped=body.get("skipped", len(skipped)),
                    skipped=tuple(skipped),
                    reported_total=body.get("reported_total"),
                    attempt_id=attempt,
                    **common,
                )
            )
        elif end == "failed":
            msgs.append(
                self._event(
                    SyncRunFailed,
                    n,
                    devices_observed=len(devices),
                    error="boom",
                    attempt_id=attempt,
                    **common,
                )
            )
        batches = body.get("batches", 1)  # split the run over several consumed batches
        size = -(-len(msgs) // batches)
        for i in range(0, len(msgs), size):
            await self._handle(msgs[i : i + size])

    async def _link_changed(self, body: dict[str, Any]) -> None:
        """R-M12: the API created a link or changed its settings (a new generation); `settings`
        overrides the named link's settings from here on."""
        name = body.get("link", next(iter(self.links)))
        link = self.links[name].model_copy(
            update={**body.get("settings", {}), "generation": body["generation"]}
        )
        self.links[name] = link
        await self._handle(
            [self._event(MasterLinkChanged, change=body.get("change", "created"), master_link=link)]
        )

    async def _resolve(self, body: dict[str, Any]) -> None:
        if "conflict_id" in body:
            conflict_id = uuid.UUID(body["conflict_id"])
        else:
            link = self.links[body.get("link", next(iter(self.links)))]
            # The open conflict of that MDM device, else the latest one it had.
            mine = sorted(
                (
                    c
                    for c in self.store.conflicts.values()
                    if c.key == (link.integration_id, body["mdm_device_id"])
                ),
                key=lambda c: (c.status == "open", c.first_seen_at),
            )
            conflict_id = mine[-1].conflict_id if mine else uuid.UUID(int=0)
        device = self.device_id(body["device"]) if body.get("device") else None
        await self._handle(
            [
                self._event(
                    ResolveConflict, conflict_id=conflict_id, resolution=body["resolution"], device_id=device
                )
            ]
        )

    async def _priority(self, body: dict[str, Any]) -> None:
        """R-P1: SetMdmPriority; `dry_run` plans (expect `planned`), else applies."""
        plan_id = self._id("plan")
        if body.get("dry_run"):
            self.last_dry_run = plan_id
        order = tuple(self.links[k].integration_id for k in body.get("order", []))
        families = {
            f: tuple(self.links[k].integration_id for k in ks)
            for f, ks in body.get("per_os_family", {}).items()
        }
        await self._handle(
            [
                self._event(
                    SetMdmPriority,
                    order=order,
                    per_os_family=families,
                    dry_run=body.get("dry_run", False),
                    plan_id=plan_id,
                )
            ]
        )

    async def _unlink(self, body: dict[str, Any]) -> None:
        link = self.links[body.get("link", next(iter(self.links)))]
        await self._handle(
            [
                self._event(
                    UnlinkMasterLink,
                    master_link_id=body.get("master_link_id", link.master_link_id),
                    integration_id=link.integration_id,
                    keep_devices=body["keep_devices"],
                    generation=body.get("generation", 0),
                )
            ]
        )

    def _remember_bindings(self) -> None:
        """`@<mdm id>` names the first device ever bound to that MDM id (it survives a re-enrollment
        or an unlink, so expectations can follow it)."""
        for d in self.store.devices.values():
            for _, mdm_device_id in binding_keys(d):  # R-P2: every binding, primary first
                self.refs.setdefault("@" + mdm_device_id, d.device_id)


# --- checks ------------------------------------------------------------------------------------


def check_invariants(store: Backend) -> None:
    """After every step: one device per binding, unique asset numbers, one open conflict per MDM id."""
    bindings = Counter(k for d in store.devices.values() for k in binding_keys(d))
    # R-P2: one MDM device per integration on a device
    assert all(len({i for i, _ in binding_keys(d)}) == len(binding_keys(d)) for d in store.devices.values())
    assert all(n == 1 for n in bindings.values()), bindings
    assets = Counter(normalise(d.asset_number) for d in store.devices.values() if d.asset_number)
    assert all(n == 1 for n in assets.values()), assets
    open_ = Counter(c.key for c in store.conflicts.values() if c.status == "open")
    assert all(n == 1 for n in open_.values()), open_


def field_of(device: LedgerDevice, name: str) -> Any:
    if name == "binding":
        return device.binding.mdm_device_id if device.binding else None
    if name == "bindings":  # R-P2: "<integration>:<MDM id>" of every binding, primary first
        return [f"{i}:{m}" for i, m in binding_keys(device)]
    if name == "bindings_missing":  # R-P4: each binding's own state
        return {b.binding.integration_id: b.missing_from_mdm for b in bindings_of(device)}
    if name.startswith("field_origins."):  # R-P3
        return device.field_origins.get(name[14:])
    if name.startswith("mdm."):
        return getattr(device.mdm, name[4:]) if device.mdm else None
    if name.startswith("custom_fields."):
        return device.custom_fields.get(name[14:])
    value = getattr(device, name)
    return value.isoformat() if isinstance(value, datetime) else value


def _time_matches(value: Any, expected: str) -> bool:
    """`@step<k>`: any time during step k (when its records happened)."""
    step = int(expected.removeprefix("@step"))
    start = T0 + timedelta(hours=step)
    return value is not None and start <= datetime.fromisoformat(value) < start + timedelta(hours=1)


def check_expectations(sc: Scenario, body: dict[str, Any]) -> None:
    store, where = sc.store, f"{sc.name} step {sc.step}"
    for ref, fields in body.get("devices", {}).items():
        device = store.devices.get(sc.device_id(ref))
        if fields is None:
            assert device is None, f"{where}: {ref} should not exist"
            continue
        assert device is not None, f"{where}: {ref} does not exist"
        for name, expected in fields.items():
            actual = field_of(device, name)
            if isinstance(expected, str) and expected.startswith("@step"):
                assert _time_matches(actual, expected), f"{where}: {ref}.{name} = {actual}, not in {expected}"
            else:
                assert actual == expected, f"{where}: {ref}.{name} = {actual!r}, expected {expected!r}"
    if "summaries" in body:  # R-M12: the statuses of every run summary published so far, in order
        got = [e.status for e in store.events() if isinstance(e, SyncRunSummary)]
        assert got == body["summaries"], f"{where}: summaries {got}"
    if "device_count" in body:
        assert len(store.devices) == body["device_count"], f"{where}: {len(store.devices)} devices"
    if "conflicts" in body:
        _check_conflicts(sc, body["conflicts"], where)
    events = store.events()
    for h in body.get("history", []):
        assert _history_has(sc, events, h), f"{where}: no history entry {h}"
    for h in body.get("no_history", []):
        assert not _history_has(sc, events, h), f"{where}: unexpected history entry {h}"
    if "events" in body:
        counts = Counter(e.type for e in events)
        for kind, n in body["events"].items():
            assert counts[kind] == n, f"{where}: {counts[kind]} {kind} events, expected {n}"
    if "rejected" in body:
        codes = [e.code for e in events if e.type == "command_rejected"]
        assert codes == body["rejected"], f"{where}: rejected {codes}"
    if "summary" in body:
        last = [e for e in events if isinstance(e, SyncRunSummary)][-1]
        for name, expected in body["summary"].items():
            if name == "issues":  # R-M14: [[kind, mdm id, field], ...]
                actual = [[i.kind, i.mdm_device_id, i.field] for i in last.issues]
            else:
                actual = getattr(last.counts, name) if hasattr(last.counts, name) else getattr(last, name)
            if name == "error" and isinstance(expected, str):
                assert actual and expected in actual, f"{where}: summary error {actual!r}"
            else:
                assert actual == expected, f"{where}: summary {name} = {actual!r}, expected {expected!r}"
    if "topics" in body:  # R-M6: what the reconciler writes to; there is no topic back to an MDM
        assert store.topics() == set(body["topics"]), f"{where}: published to {store.topics()}"
    if "planned" in body:
        _check_planned(sc, events, body["planned"], where)


def _check_conflicts(sc: Scenario, expected: list[dict[str, Any]], where: str) -> None:
    actual = sorted(sc.store.conflicts.values(), key=lambda c: (c.mdm_device_id, c.first_seen_at))
    assert len(actual) == len(expected), f"{where}: conflicts {[(c.mdm_device_id, c.rule) for c in actual]}"
    for c, want in zip(actual, sorted(expected, key=lambda w: w["mdm_device_id"]), strict=True):
        got = {
            "mdm_device_id": c.mdm_device_id,
            "rule": c.rule,
            "status": c.status,
            "resolution": c.resolution,
            "candidates": sorted(str(x) for x in c.candidates),
            "device": str(c.resolved_device_id) if c.resolved_device_id else None,
        }
        for name, value in want.items():
            if name == "candidates":
                value = sorted(str(sc.device_id(r)) for r in value)
            elif name == "device":
                value = str(sc.device_id(value)) if value else None
            assert got[name] == value, (
                f"{where}: conflict {c.mdm_device_id} {name} = {got[name]!r}, not {value!r}"
            )


def _history_has(sc: Scenario, events: list[Any], want: dict[str, Any]) -> bool:
    device_id = sc.device_id(want["device"])
    for e in events:
        if not isinstance(e, LedgerDeviceChanged) or e.device_id != device_id:
            continue
        if "change" in want and e.change != want["change"]:
            continue
        if "actor" in want and e.provenance.actor != want["actor"]:
            continue
        if want.get("field") is None and "change" in want:
            return True
        for ch in e.changes:
            if ch.field == want["field"] and all(
                getattr(ch, k) == want[k]
                for k in ("rule", "before", "after", "origin_integration_id")
                if k in want
            ):
                return True
    return False


def _check_planned(sc: Scenario, events: list[Any], expected: list[dict[str, Any]], where: str) -> None:
    items = [
        i for e in events if e.type == "dry_run_planned" and e.sync_run_id == sc.last_dry_run for i in e.items
    ]
    assert len(items) == len(expected), f"{where}: planned {[(i.action, i.mdm_device_id) for i in items]}"
    for want in expected:
        match = [
            i
            for i in items
            if i.action == want["action"]
            and i.mdm_device_id == want.get("mdm_device_id", i.mdm_device_id)
            and all(
                {c.field: c.after for c in i.changes}.get(k) == v for k, v in want.get("after", {}).items()
            )
            and i.conflict_rule == want.get("conflict_rule", i.conflict_rule)
        ]
        assert match, f"{where}: no planned item {want} in {items}"
