"""Issue 12 item 1: the no-change fast path (fast_path.py) on PostgreSQL.

- A property (hypothesis): any sequence of runs (re-syncs of a small fleet, batches cut anywhere),
  manual edits, creates and settings changes gives the same ledger, the same run counts, the same
  conflicts and byte-identical events with the fast path as with it switched off. In both, an
  unchanged device publishes nothing (the full path's `Unchanged` adds no event either).
- A no-change re-sync writes no device row and no outbox row but its summary, and still records
  what the run saw (R-M10: a device the next complete run does not report is marked missing).
- A manual edit of an MDM-first field between two identical observations is restored by the second
  sync (R-I rules: the edit raised the version, the digest is stale).
- A settings change (asset-number source) invalidates the digests.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ledger_contracts import (
    CreateDevice,
    DeviceFieldsInput,
    DeviceObserved,
    Event,
    LedgerDevice,
    MasterLinkSettings,
    MatchingKey,
    ObservedDevice,
    RecordIssue,
    SyncRunCompleted,
    SyncRunStarted,
    UnlinkMasterLink,
    UpdateDevice,
    codec,
)
from reconciler.adapters.postgres import PgStore
from reconciler.migrate import apply_migrations
from reconciler.model import NS as MODEL_NS
from reconciler.model import Record
from reconciler.pipeline import process

pytestmark = pytest.mark.integration
T0 = datetime(2026, 11, 26, tzinfo=UTC)
NS = uuid.UUID("0e2b6a51-3c1f-4f7e-9a55-6f1d2c3b4a5e")


class SlowStore(PgStore):
    """The same store with the fast path switched off: every device is loaded and decided."""

    async def _fresh(self, tenant: str, n: Any) -> set[tuple[str, str]]:
        return set()


class CountingStore(PgStore):
    """Counts the observations the store found unchanged (their device documents not loaded)."""

    fresh = 0

    async def _fresh(self, tenant: str, n: Any) -> set[tuple[str, str]]:
        got = await super()._fresh(tenant, n)
        CountingStore.fresh += len(got)
        return got


class Feed:
    def __init__(self) -> None:
        self.n = 0

    def event(self, cls: type[Event], **kw: Any) -> Event:
        self.n += 1
        return cls(
            event_id=uuid.uuid5(NS, str(self.n)),
            occurred_at=T0 + timedelta(seconds=self.n),
            tenant_id="t",
            **kw,
        )

    def run(
        self,
        link: MasterLinkSettings,
        snapshot: list[ObservedDevice],
        dry_run: bool = False,
        warned: frozenset[str] = frozenset(),
    ) -> list[Event]:
        run_id = uuid.uuid5(NS, f"run{self.n}")
        common = {"sync_run_id": run_id, "integration_id": link.integration_id}
        start = self.event(SyncRunStarted, sync_run_id=run_id, master_link=link, dry_run=dry_run)
        msgs: list[Event] = [start]
        msgs += [
            self.event(DeviceObserved, device=o, warnings=_warning(o, warned), **common) for o in snapshot
        ]
        msgs.append(self.event(SyncRunCompleted, devices_observed=len(snapshot), **common))
        return msgs


def _warning(o: ObservedDevice, warned: frozenset[str]) -> tuple[RecordIssue, ...]:
    """R-M14: a record of a device in `warned` comes with a warning (its empty fields are unknown)."""
    if o.mdm_device_id not in warned:
        return ()
    return (RecordIssue(kind="warning", mdm_device_id=o.mdm_device_id, field="os", reason="malformed"),)


def link(source: str = "uuid", key: str = "serial_number") -> MasterLinkSettings:
    return MasterLinkSettings(
        master_link_id="ml-1",
        integration_id="i1",
        mdm_kind="intune",
        matching_key=MatchingKey(mdm=key, ledger="serial_number"),  # type: ignore[arg-type]
        asset_number_source=source,  # type: ignore[arg-type]
    )


TABLES = """
SELECT string_agg('reconciler.' || quote_ident(tablename), ', ') FROM pg_tables
WHERE schemaname = 'reconciler' AND tablename <> 'schema_migrations'
"""


async def reset(conn: asyncpg.Connection) -> None:
    await conn.execute(f"TRUNCATE {await conn.fetchval(TABLES)}")


async def feed(conn: asyncpg.Connection, store: PgStore, batches: list[list[Event]]) -> None:
    offset = 0
    for batch in batches:
        async with conn.transaction():
            await process(store, [Record("in", 0, offset + i, m) for i, m in enumerate(batch)], "")
        offset += len(batch)


async def snapshot(conn: asyncpg.Connection) -> dict[str, Any]:
    devices = await conn.fetch("SELECT device_id, version, doc FROM reconciler.devices ORDER BY device_id")
    runs = await conn.fetch("SELECT sync_run_id, status, counts, error FROM reconciler.sync_runs ORDER BY 1")
    conflicts = await conn.fetch(
        "SELECT conflict_id, rule, candidates, status FROM reconciler.conflicts ORDER BY 1"
    )
    outbox = await conn.fetch("SELECT topic, value FROM reconciler.outbox ORDER BY seq")
    return {
        "devices": [(r["device_id"], r["version"], json.loads(r["doc"])) for r in devices],
        "runs": [(r["sync_run_id"], r["status"], json.loads(r["counts"]), r["error"]) for r in runs],
        "conflicts": [tuple(r) for r in conflicts],
        "outbox": [(r["topic"], bytes(r["value"])) for r in outbox],
    }


@pytest.fixture
async def conn(database_url: str) -> Any:
    c = await asyncpg.connect(database_url)
    await apply_migrations(c)
    await reset(c)
    yield c
    await c.close()


# --- the property -------------------------------------------------------------------------------

fleet = st.lists(
    st.builds(
        ObservedDevice,
        mdm_device_id=st.sampled_from([f"m{i}" for i in range(5)]),
        serial_number=st.sampled_from(["SN1", "SN2", "SN3", None]),
        uuid=st.sampled_from(["u1", "u2", None]),
        device_name=st.sampled_from(["PC-1", "1A", None]),
        os=st.sampled_from(["iOS (17.5)", "macOS (14.4.1)", None]),
        assigned_user=st.sampled_from(["a@x", "b@x", None]),
    ),
    max_size=5,
).map(lambda obs: list({o.mdm_device_id: o for o in obs}.values()))
edits = st.builds(
    DeviceFieldsInput,
    serial_number=st.sampled_from(["SN1", "SN2", None]),
    assigned_user=st.sampled_from(["z@x", None]),
    os=st.sampled_from(["Linux", None]),
    asset_number=st.sampled_from(["1A", "PC-1", None, None]),
)
steps = st.lists(
    st.one_of(
        st.tuples(st.just("resync"), st.integers(0, 3)),  # most steps: the same snapshot again
        st.tuples(st.just("resync"), st.integers(0, 3)),
        st.tuples(st.just("sync"), fleet, st.integers(0, 3)),
        st.tuples(st.just("edit"), st.integers(0, 7), edits),
        st.tuples(st.just("create"), edits),
        st.tuples(st.just("dry_run"), st.integers(0, 3)),  # R-S3: plans on a fork, writes nothing
        st.tuples(st.just("warned"), st.frozensets(st.sampled_from([f"m{i}" for i in range(5)]))),
        st.tuples(st.just("unlink"), st.booleans()),  # R-S4/R-S5, then R-S7 on the next sync
        st.tuples(
            st.just("settings"),
            st.sampled_from(["uuid", "device_name"]),
            st.sampled_from(["serial_number", "uuid"]),
        ),
    ),
    min_size=1,
    max_size=6,
)


def scenario(first: list[ObservedDevice], plan: list[tuple[Any, ...]]) -> list[list[Event]]:
    f, current, snap, created = Feed(), link(), first, 0
    warned: frozenset[str] = frozenset()
    batches: list[list[Event]] = []

    def sync(cut: int, dry_run: bool = False) -> None:
        msgs = f.run(current, snap, dry_run, warned)
        middle = msgs[1:-1]
        at = min(cut, len(middle))
        batches.extend(b for b in ([msgs[0], *middle[:at]], [*middle[at:], msgs[-1]]) if b)

    sync(0)
    for s in plan:
        if s[0] == "resync":
            sync(s[1])
        elif s[0] == "sync":
            snap = s[1]
            sync(s[2])
        elif s[0] == "edit":  # a device created by a sync (its id comes from the observation's event)
            target = uuid.uuid5(MODEL_NS, f"device:{uuid.uuid5(NS, str(s[1] + 2))}")
            if s[1] >= 6:
                target = uuid.UUID(int=s[1] - 5)  # or a manual one
            batches.append([f.event(UpdateDevice, device_id=target, fields=s[2])])
        elif s[0] == "dry_run":
            sync(s[1], dry_run=True)
        elif s[0] == "warned":
            warned = s[1]
            sync(0)
        elif s[0] == "unlink":
            batches.append(
                [f.event(UnlinkMasterLink, master_link_id="ml-1", integration_id="i1", keep_devices=s[1])]
            )
        elif s[0] == "create":
            created += 1
            batches.append([f.event(CreateDevice, device_id=uuid.UUID(int=created), fields=s[1])])
        else:
            current = link(source=s[1], key=s[2])
    return batches


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(first=fleet, plan=steps)
def test_fast_path_decides_like_the_full_path(database_url: str, first, plan) -> None:  # type: ignore[no-untyped-def]  # @given supplies them
    """Issue 12 item 1, R-M10, R-I rules: the same ledger, counts, conflicts and events."""
    batches = scenario(first, plan)

    async def both() -> tuple[dict[str, Any], dict[str, Any]]:
        c = await asyncpg.connect(database_url)
        try:
            await apply_migrations(c)
            await reset(c)
            await feed(c, SlowStore(c), batches)
            slow = await snapshot(c)
            await reset(c)
            CountingStore.fresh = 0
            await feed(c, CountingStore(c), batches)
            fast = await snapshot(c)
            return slow, fast
        finally:
            await c.close()

    slow, fast = asyncio.run(both())
    event("the fast path was taken" if CountingStore.fresh else "every device took the full path")
    assert fast == slow


# --- what a no-change re-sync writes ----------------------------------------------------------------


FLEET = [
    ObservedDevice(mdm_device_id=f"m{i}", serial_number=f"SN{i}", assigned_user="a@x", os="iOS (17.5)")
    for i in range(30)
]


async def _xmins(conn: asyncpg.Connection) -> dict[uuid.UUID, str]:
    return {
        r["device_id"]: r["x"]
        for r in await conn.fetch("SELECT device_id, xmin::text AS x FROM reconciler.devices")
    }


async def test_a_no_change_resync_writes_no_device_and_no_event_but_its_summary(
    conn: asyncpg.Connection,
) -> None:
    """Issue 12 item 1, R-M10: a re-sync of an unchanged fleet rewrites no device row (same xmin),
    adds one outbox row (the run's summary) and no change event; its counts say `unchanged`; and the
    run's `run_seen` still holds every MDM id: the next complete run without m0 marks it missing."""
    f, ml = Feed(), link()
    await feed(conn, PgStore(conn), [f.run(ml, FLEET)])
    assert await conn.fetchval("SELECT count(*) FROM reconciler.observation_digests") == 30
    before = await _xmins(conn)
    await conn.execute("DELETE FROM reconciler.outbox")
    resync = f.run(ml, FLEET)
    CountingStore.fresh = 0
    await feed(conn, CountingStore(conn), [resync[:12], resync[12:]])
    assert CountingStore.fresh == 30  # every device took the fast path
    assert await _xmins(conn) == before  # no device row written
    events = [
        codec.decode(codec.change_adapter, r["value"])
        for r in await conn.fetch("SELECT value FROM reconciler.outbox")
    ]
    assert [e.type for e in events] == ["sync_run_summary", "sync_run_summary"]  # start and end
    counts = events[-1].counts
    assert (counts.seen, counts.unchanged, counts.updated, counts.created) == (30, 30, 0, 0)
    seen = await conn.fetchval(
        "SELECT coalesce(sum(cardinality(mdm_device_ids)), 0) FROM reconciler.run_seen "
        "WHERE sync_run_id = $1",
        resync[0].sync_run_id,  # type: ignore[attr-defined]
    )
    assert seen == 30
    await feed(conn, PgStore(conn), [f.run(ml, FLEET[1:])])
    doc = await conn.fetchval("SELECT doc FROM reconciler.devices WHERE binding_mdm_device_id = 'm0'")
    assert json.loads(doc)["missing_from_mdm"] is True


async def test_a_manual_edit_between_two_identical_observations_is_restored(conn: asyncpg.Connection) -> None:
    """R-I rules: an MDM-first field a person edited is overwritten by the next sync, even when the
    MDM sent exactly what it sent last time (the edit raised the version: the digest is stale)."""
    f, ml = Feed(), link()
    await feed(conn, PgStore(conn), [f.run(ml, FLEET)])
    device_id = await conn.fetchval(
        "SELECT device_id FROM reconciler.devices WHERE binding_mdm_device_id = 'm3'"
    )
    edit = f.event(UpdateDevice, device_id=device_id, fields=DeviceFieldsInput(assigned_user="z@x"))
    await feed(conn, PgStore(conn), [[edit]])
    doc = LedgerDevice.model_validate_json(
        await conn.fetchval("SELECT doc FROM reconciler.devices WHERE device_id = $1", device_id)
    )
    assert doc.assigned_user == "z@x"
    await conn.execute("DELETE FROM reconciler.outbox")
    CountingStore.fresh = 0
    await feed(conn, CountingStore(conn), [f.run(ml, FLEET)])
    assert CountingStore.fresh == 29  # all but the edited device
    doc = LedgerDevice.model_validate_json(
        await conn.fetchval("SELECT doc FROM reconciler.devices WHERE device_id = $1", device_id)
    )
    assert doc.assigned_user == "a@x"
    events = [
        codec.decode(codec.change_adapter, r["value"])
        for r in await conn.fetch("SELECT value FROM reconciler.outbox")
    ]
    changed = [e for e in events if e.type == "device_changed"]
    assert [e.device_id for e in changed] == [device_id]  # only the edited device; the rest was fast
    assert events[-1].counts.updated == 1 and events[-1].counts.unchanged == 29


async def test_a_settings_change_invalidates_the_digests(conn: asyncpg.Connection) -> None:
    """Issue 12: the link's settings are in the digest: after a change of asset-number source every
    device of the next run is decided again (and its digest stored anew), none is skipped."""
    f = Feed()
    await feed(conn, PgStore(conn), [f.run(link(), FLEET)])
    old = {
        r["mdm_device_id"]: bytes(r["digest"])
        for r in await conn.fetch("SELECT * FROM reconciler.observation_digests")
    }
    await feed(conn, PgStore(conn), [f.run(link(source="device_name"), FLEET)])
    new = {
        r["mdm_device_id"]: bytes(r["digest"])
        for r in await conn.fetch("SELECT * FROM reconciler.observation_digests")
    }
    assert old.keys() == new.keys() and all(old[m] != new[m] for m in old)


async def test_a_fresh_device_another_record_loads_takes_the_full_path(database_url: str) -> None:
    """Issue 12, R-M4/R-M9: in a re-sync, a new MDM device with m3's serial makes the store load m3's
    device by key although m3's digest is fresh: m3 then takes the full path (with everything it may
    read), and the outcome is exactly the one without the fast path."""
    dup = ObservedDevice(mdm_device_id="m-dup", serial_number="SN3", assigned_user="b@x")
    results = []
    for store in (SlowStore, CountingStore):
        c = await asyncpg.connect(database_url)
        try:
            await apply_migrations(c)
            await reset(c)
            f, ml = Feed(), link()
            await feed(c, store(c), [f.run(ml, FLEET)])
            CountingStore.fresh = 0
            await feed(c, store(c), [f.run(ml, [*FLEET, dup])])
            results.append(await snapshot(c))
        finally:
            await c.close()
    assert CountingStore.fresh == 30  # m3 was found fresh, then loaded by the key lookup of m-dup
    assert results[0] == results[1]
    assert any(r[3] == "open" for r in results[1]["conflicts"])  # m-dup: the serial is taken
