"""Issue 9 on the pure core and the fold over the in-memory store (no I/O): R-M12 verdicts, R-M13
counts across attempts, R-M14 complete pulls, R-M15 device names (hypothesis), R-S7, R-S8, R-I2."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger_contracts import (
    Binding,
    DeleteDevice,
    DeviceObserved,
    Event,
    LedgerDevice,
    MasterLinkSettings,
    MatchingKey,
    MdmOnlyFields,
    ObservedDevice,
    SyncRunCompleted,
    SyncRunStarted,
    SyncRunSummary,
)
from reconciler.core import (
    REBOUND,
    Conflict,
    Created,
    Deleted,
    Ledger,
    LinkGeneration,
    Rejected,
    Unchanged,
    Updated,
    binding_keys,
    command_verdict,
    decide_delete,
    decide_observation,
    mdm_values,
    partial_reason,
    resolve_field,
    run_verdict,
)
from reconciler.model import Record

from .doubles import MemoryStore

pytestmark = pytest.mark.unit
NOW = datetime(2026, 11, 29, 6, tzinfo=UTC)
RUN = uuid.UUID(int=1)
LINK = MasterLinkSettings(master_link_id="ml", integration_id="intune-1", mdm_kind="intune")
TENANT = "t"
NAME_LINK = LINK.model_copy(update={"matching_key": MatchingKey(mdm="device_name", ledger="asset_number")})


def gen(n: int, change: str = "created") -> LinkGeneration:
    return LinkGeneration(TENANT, "intune-1", "ml", n, change, NOW)  # type: ignore[arg-type]  # test literal


# --- R-M12 -----------------------------------------------------------------------------------------


@pytest.mark.rule("R-M12")
@pytest.mark.parametrize(
    ("current", "generation", "verdict"),
    [
        (None, 0, "accept"),  # legacy producer: accepted as before
        (gen(3, "unlinked"), 0, "accept"),  # legacy, even after an unlink (documented: no order)
        (None, 1, "park"),  # its MasterLinkChanged has not arrived yet
        (gen(1), 2, "park"),
        (gen(2), 2, "accept"),
        (gen(2, "settings_changed"), 1, "refuse"),
        (gen(3, "unlinked"), 2, "refuse"),
        (gen(3, "unlinked"), 3, "refuse"),  # nothing runs for a removed link
    ],
)
def test_run_verdict_by_generation(current: LinkGeneration | None, generation: int, verdict: str) -> None:
    assert run_verdict(current, generation) == verdict


@pytest.mark.rule("R-M12")
@pytest.mark.parametrize(
    ("current", "generation", "change", "verdict"),
    [
        (None, 1, "created", "apply"),
        (gen(1), 1, "created", "duplicate"),  # a redelivered MasterLinkChanged
        (gen(1), 2, "unlinked", "apply"),
        (gen(2, "unlinked"), 2, "unlinked", "duplicate"),  # a redelivered unlink
        (gen(3), 2, "unlinked", "refuse"),  # an old unlink must never hit a re-link
        (gen(3), 2, "settings_changed", "refuse"),
    ],
)
def test_command_verdict_by_generation(
    current: LinkGeneration | None, generation: int, change: str, verdict: str
) -> None:
    assert command_verdict(current, generation, change) == verdict  # type: ignore[arg-type]  # test literal


@pytest.mark.rule("R-M12")
def test_a_refusal_explains_what_superseded_the_run() -> None:
    assert gen(4, "unlinked").why() == f"superseded by generation 4 (unlinked) at {NOW.isoformat()}"
    assert "settings changed" in gen(2, "settings_changed").why()


# --- R-M13 -----------------------------------------------------------------------------------------


def _event(cls: type[Event], i: int, **kw: object) -> Event:
    return cls(
        event_id=uuid.UUID(int=10_000 + i), occurred_at=NOW + timedelta(seconds=i), tenant_id=TENANT, **kw
    )


def _run(
    attempts: list[list[str]], run_id: uuid.UUID, link: MasterLinkSettings = LINK, complete: bool = True
) -> list[Event]:
    """One run pulled by several attempts (each a list of MDM ids, duplicates allowed); the last
    attempt completes it."""
    out: list[Event] = []
    common = {"sync_run_id": run_id, "integration_id": link.integration_id}
    for a, ids in enumerate(attempts):
        attempt = uuid.UUID(int=a + 1)
        out.append(_event(SyncRunStarted, len(out), sync_run_id=run_id, master_link=link, attempt_id=attempt))
        for m in ids:
            d = ObservedDevice(mdm_device_id=m, uuid=m, serial_number=f"SN-{m}")
            out.append(_event(DeviceObserved, len(out), device=d, attempt_id=attempt, **common))
    if complete:
        out.append(
            _event(
                SyncRunCompleted, len(out), devices_observed=len(attempts[-1]), attempt_id=attempt, **common
            )
        )
    return out


async def _feed(store: MemoryStore, msgs: list[Event], batch: int) -> None:
    records = [Record("snapshots", 0, i, m) for i, m in enumerate(msgs)]  # type: ignore[arg-type]  # snapshots
    for i in range(0, len(records), batch):
        await store.handle(records[i : i + batch])


ids = st.lists(st.sampled_from([f"m{i}" for i in range(8)]), min_size=1, max_size=12)


@pytest.mark.rule("R-M13")
@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(ids, min_size=1, max_size=4), st.integers(1, 7), st.booleans())
def test_each_mdm_device_of_a_run_is_counted_once_whatever_attempts_and_batches(
    attempts: list[list[str]], batch: int, by_name: bool
) -> None:
    """The repro ("seen 31,000 of 20,000, errors 11,000") generalised: any number of restarted
    attempts, any duplicates, any batch split, devices decided as they come or held until the end
    (a link matched by device name, R-M15): seen = distinct devices, errors = 0."""
    store = MemoryStore()
    link = NAME_LINK if by_name else LINK
    asyncio.run(_feed(store, _run(attempts, RUN, link), batch))
    (summary,) = [e for e in store.events() if isinstance(e, SyncRunSummary) and e.status == "completed"]
    distinct = {m for a in attempts for m in a}
    c = summary.counts
    assert (c.seen, c.errors) == (len(distinct), 0)
    assert c.created + c.updated + c.unchanged + c.conflicts == len(distinct)
    assert len(store.devices) == len(distinct)


@pytest.mark.rule("R-M13")
def test_a_start_after_completion_is_recorded_and_its_attempt_ignored() -> None:
    store = MemoryStore()
    asyncio.run(_feed(store, _run([["m1", "m2"]], RUN), 10))
    late = _run([["m1", "m2", "m3"]], RUN, complete=False)  # attempt 1 again? give it a new id
    late = [m.model_copy(update={"attempt_id": uuid.UUID(int=99), "event_id": uuid.uuid4()}) for m in late]
    asyncio.run(_feed(store, late, 10))
    assert {e.status for e in store.events() if isinstance(e, SyncRunSummary)} == {"running", "completed"}
    assert len(store.devices) == 2  # never reopened, m3 not created, nothing dead-lettered
    assert not [t for t, *_ in store.outbox if "dlq" in t]
    assert store.runs[RUN].ignored_attempts == [str(uuid.UUID(int=99))]


# --- R-M14 -----------------------------------------------------------------------------------------


@pytest.mark.rule("R-M14")
@pytest.mark.parametrize(
    ("kw", "partial"),
    [
        ({"seen": 10, "seen_records": 10, "skipped": 0, "errors": 0}, None),
        ({"seen": 10, "seen_records": 10, "skipped": 0, "errors": 0, "reported_total": 10}, None),
        ({"seen": 10, "seen_records": 10, "skipped": 0, "errors": 0, "reported_total": 9}, None),
        ({"seen": 9, "seen_records": 9, "skipped": 1, "errors": 0, "reported_total": 10}, "skipped 1"),
        ({"seen": 9, "seen_records": 9, "skipped": 0, "errors": 0, "reported_total": 10}, "reported 10"),
        ({"seen": 10, "seen_records": 4, "skipped": 0, "errors": 0}, "lost"),
    ],
)
def test_missing_is_decided_only_after_a_complete_pull(kw: dict[str, int], partial: str | None) -> None:
    reason = partial_reason(**kw)  # type: ignore[arg-type]  # test table
    assert (reason is None) if partial is None else (reason is not None and partial in reason)


# --- R-M15 -----------------------------------------------------------------------------------------


def _manual(asset: str | None = None, serial: str | None = None, i: int = 1) -> LedgerDevice:
    return LedgerDevice(
        device_id=uuid.UUID(int=i),
        tenant_id=TENANT,
        version=1,
        source="manual",
        asset_number=asset,
        serial_number=serial,
        created_at=NOW,
        updated_at=NOW,
    )


@pytest.mark.rule("R-M15")
def test_device_name_matches_the_asset_number_trimmed_and_case_insensitive() -> None:
    ledger = Ledger.of(TENANT, [_manual(asset="PC-Alice")])
    out = decide_observation(
        ledger,
        NAME_LINK,
        RUN,
        ObservedDevice(mdm_device_id="m1", device_name="  pc-alice "),
        NOW,
        uuid.uuid4(),
    )
    assert isinstance(out, Updated) and out.device.device_id == uuid.UUID(int=1)
    assert out.device.binding is not None and out.device.binding.mdm_device_id == "m1"


@pytest.mark.rule("R-M15")
def test_a_unique_name_binds_even_when_the_run_is_split_over_batches() -> None:
    store = MemoryStore()
    owner = _manual(asset="PC-Alice")
    store.devices[owner.device_id] = owner
    common = {"sync_run_id": RUN, "integration_id": NAME_LINK.integration_id}
    devices = [ObservedDevice(mdm_device_id=f"m{i}", device_name=f"PC-{i}") for i in range(5)]
    devices.insert(2, ObservedDevice(mdm_device_id="alice", device_name="pc-alice"))
    msgs: list[Event] = [_event(SyncRunStarted, 0, sync_run_id=RUN, master_link=NAME_LINK)]
    msgs += [_event(DeviceObserved, i + 1, device=d, **common) for i, d in enumerate(devices)]
    msgs.append(_event(SyncRunCompleted, len(msgs), devices_observed=len(devices), **common))
    asyncio.run(_feed(store, msgs, 2))
    bound = store.devices[owner.device_id].binding
    assert bound is not None and bound.mdm_device_id == "alice"
    (summary,) = [e for e in store.events() if isinstance(e, SyncRunSummary) and e.status == "completed"]
    assert (summary.counts.seen, summary.counts.updated, summary.counts.created) == (6, 1, 5)


@pytest.mark.rule("R-M15")
def test_a_name_on_two_ledger_devices_is_a_conflict() -> None:
    link = NAME_LINK.model_copy(
        update={"matching_key": MatchingKey(mdm="device_name", ledger="serial_number")}
    )
    ledger = Ledger.of(TENANT, [_manual(serial="NAME", i=1), _manual(serial="name", i=2)])
    out = decide_observation(
        ledger, link, RUN, ObservedDevice(mdm_device_id="m1", device_name="Name"), NOW, uuid.uuid4()
    )
    assert isinstance(out, Conflict) and out.rule == "ambiguous_match" and len(out.candidates) == 2


def _spelled(name: str) -> st.SearchStrategy[str]:
    """The same name as an MDM may spell it: any case, spaces around."""
    return st.tuples(st.sampled_from(["", " ", "  "]), st.booleans(), st.sampled_from(["", " "])).map(
        lambda t: t[0] + (name.upper() if t[1] else name.lower()) + t[2]
    )


@pytest.mark.rule("R-M15")
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from(["iPhone", "PC-Shared", "Kiosk 1"]),
    st.integers(2, 5),
    st.data(),
    st.integers(0, 3),
    st.integers(1, 9),
    st.randoms(use_true_random=False),
)
def test_a_name_shared_by_several_mdm_devices_of_a_run_never_binds(
    name: str, n: int, data: st.DataObject, others: int, batch: int, rnd: random.Random
) -> None:
    """Property: whatever the spelling, the number of MDM devices sharing the name, the other
    devices of the run, their order and how the run is split into consumed batches, the ledger
    device carrying that name as asset number is bound to none of them."""
    store = MemoryStore()
    owner = _manual(asset=name)
    store.devices[owner.device_id] = owner
    link = NAME_LINK
    spelled = [data.draw(_spelled(name)) for _ in range(n)]
    devices = [ObservedDevice(mdm_device_id=f"s{i}", device_name=s) for i, s in enumerate(spelled)]
    devices += [ObservedDevice(mdm_device_id=f"o{i}", device_name=f"other-{i}") for i in range(others)]
    rnd.shuffle(devices)
    common = {"sync_run_id": RUN, "integration_id": link.integration_id}
    msgs: list[Event] = [_event(SyncRunStarted, 0, sync_run_id=RUN, master_link=link)]
    msgs += [_event(DeviceObserved, i + 1, device=d, **common) for i, d in enumerate(devices)]
    msgs.append(_event(SyncRunCompleted, len(msgs), devices_observed=len(devices), **common))
    asyncio.run(_feed(store, msgs, batch))
    assert store.devices[owner.device_id].binding is None
    open_ = {c.mdm_device_id for c in store.conflicts.values() if c.status == "open"}
    assert open_ == {f"s{i}" for i in range(n)}


# --- R-S7 ------------------------------------------------------------------------------------------


@pytest.mark.rule("R-S7")
def test_a_remembered_binding_is_tried_before_any_key() -> None:
    kept = _manual(serial=None, i=1)  # no usable serial: no key could ever find it again
    twin = _manual(serial="SN-m1", i=2)  # the key would pick this one
    ledger = Ledger.of(TENANT, [kept, twin])
    ledger.former[("intune-1", "m1")] = kept.device_id
    out = decide_observation(
        ledger, LINK, RUN, ObservedDevice(mdm_device_id="m1", serial_number="SN-m1"), NOW, uuid.uuid4()
    )
    assert isinstance(out, Updated) and out.device.device_id == kept.device_id
    assert out.device.source == "intune"
    assert any(c.field == "rebound" and c.after == REBOUND for c in out.changes)


@pytest.mark.rule("R-S7", "R-P2")
def test_a_remembered_device_bound_to_another_integration_since_is_bound_back_beside_it() -> None:
    kept = _manual(serial="SN-old", i=1).model_copy(
        update={
            "source": "jamf_pro",
            "binding": Binding(integration_id="jamf-1", mdm_kind="jamf_pro", mdm_device_id="c1"),
        }
    )
    ledger = Ledger.of(TENANT, [kept])
    ledger.former[("intune-1", "m1")] = kept.device_id
    out = decide_observation(
        ledger, LINK, RUN, ObservedDevice(mdm_device_id="m1", serial_number="SN-m1"), NOW, uuid.uuid4()
    )
    # R-S7 (issue 11): the memory wins before any key — the serial matches nothing here, which
    # would create a twin — and the device gets this MDM device back beside Jamf's (R-P2).
    assert isinstance(out, Updated) and out.device.device_id == kept.device_id
    assert sorted(binding_keys(out.device)) == [("intune-1", "m1"), ("jamf-1", "c1")]
    assert [(c.after, c.rule, c.origin_integration_id) for c in out.changes if c.field == "rebound"] == [
        (REBOUND, "binding", "intune-1")
    ]


@pytest.mark.rule("R-S7")
def test_a_remembered_device_bound_to_the_same_integration_since_is_not_taken() -> None:
    kept = _manual(serial="SN-old", i=1).model_copy(
        update={
            "source": "intune",
            "binding": Binding(integration_id="intune-1", mdm_kind="intune", mdm_device_id="m9"),
        }
    )
    ledger = Ledger.of(TENANT, [kept])
    ledger.former[("intune-1", "m1")] = kept.device_id
    out = decide_observation(
        ledger, LINK, RUN, ObservedDevice(mdm_device_id="m1", serial_number="SN-m1"), NOW, uuid.uuid4()
    )
    # One MDM device per integration (R-P2): m9 holds the device now; m1 is a device of its own.
    assert isinstance(out, Created) and out.device.device_id != kept.device_id


# --- R-S8 ------------------------------------------------------------------------------------------


@pytest.mark.rule("R-S8")
@pytest.mark.parametrize(("missing", "deleted"), [(True, True), (False, False)])
def test_a_bound_device_may_be_deleted_only_once_retired(missing: bool, deleted: bool) -> None:
    bound = _manual(serial="S").model_copy(
        update={
            "source": "intune",
            "binding": Binding(integration_id="intune-1", mdm_kind="intune", mdm_device_id="m1"),
            "missing_from_mdm": missing,
        }
    )
    out = decide_delete(Ledger.of(TENANT, [bound]), DeleteDevice(tenant_id=TENANT, device_id=bound.device_id))
    if deleted:
        assert isinstance(out, Deleted)
    else:
        assert isinstance(out, Rejected) and out.code == "device_bound"  # R-S6 still holds


@pytest.mark.rule("R-S8")
def test_a_retired_device_deleted_by_hand_is_gone_through_the_fold() -> None:
    store = MemoryStore()
    asyncio.run(_feed(store, _run([["m1", "m2"]], RUN), 10))
    asyncio.run(_feed(store, _run([["m2"]], uuid.UUID(int=2)), 10))
    (gone,) = [d for d in store.devices.values() if d.missing_from_mdm]
    cmd = DeleteDevice(tenant_id=TENANT, device_id=gone.device_id)
    asyncio.run(store.handle([Record("commands", 0, 0, cmd)]))
    assert gone.device_id not in store.devices and len(store.devices) == 1


# --- R-I2 ------------------------------------------------------------------------------------------


@pytest.mark.rule("R-I2")
@pytest.mark.parametrize(
    ("ledger_os", "mdm_os", "after"),
    [
        ("Windows (10.0.1)", "Windows (10.0.2)", "Windows (10.0.2)"),  # MDM-first
        ("edited by hand", "macOS (15.1)", "macOS (15.1)"),
        ("Windows (10.0.1)", None, "Windows (10.0.1)"),  # no OS name: the connector sent none
        ("Windows (10.0.1)", "(10.0.2)", "Windows (10.0.1)"),  # a version alone names no OS
        ("Windows (10.0.1)", "   ", "Windows (10.0.1)"),
        (None, "(10.0.2)", None),
        (None, "iOS", "iOS"),
    ],
)
def test_an_os_version_without_an_os_name_never_erases_the_os(
    ledger_os: str | None, mdm_os: str | None, after: str | None
) -> None:
    proposed = mdm_values(ObservedDevice(mdm_device_id="m1", os=mdm_os), "uuid")["os"]
    assert resolve_field("mdm_first", ledger_os, proposed, keep_when_unreported=True) == after


@pytest.mark.rule("R-I2")
def test_a_bound_device_keeps_its_os_when_the_mdm_names_none() -> None:
    store = MemoryStore()
    asyncio.run(_feed(store, _run([["m1"]], RUN), 10))
    (device,) = store.devices.values()
    update = _event(
        DeviceObserved,
        500,
        sync_run_id=uuid.UUID(int=3),
        integration_id="intune-1",
        device=ObservedDevice(mdm_device_id="m1", serial_number="SN-m1", os="(10.0.9)"),
    )
    start = _event(SyncRunStarted, 499, sync_run_id=uuid.UUID(int=3), master_link=LINK)
    store.devices[device.device_id] = device.model_copy(update={"os": "Windows (10.0.1)"})
    asyncio.run(_feed(store, [start, update], 10))
    assert store.devices[device.device_id].os == "Windows (10.0.1)"


@pytest.mark.rule("R-M13")
def test_a_legacy_connector_restarting_a_run_without_attempt_ids_reports_no_errors() -> None:
    """The issue's repro with a producer that predates attempt ids: the run started again, all
    devices published again; the end's `devices_observed` is the second pass's."""
    store = MemoryStore()
    msgs = _run([["m1", "m2", "m3"], ["m1", "m2", "m3", "m4"]], RUN)
    legacy = [m.model_copy(update={"attempt_id": None}) for m in msgs]
    asyncio.run(_feed(store, legacy, 3))
    (summary,) = [e for e in store.events() if isinstance(e, SyncRunSummary) and e.status == "completed"]
    assert (summary.counts.seen, summary.counts.errors, summary.counts.created) == (4, 0, 4)


@pytest.mark.rule("R-M14")
@pytest.mark.parametrize("warned", [True, False])
def test_a_field_emptied_with_a_warning_never_erases_the_ledger(warned: bool) -> None:
    """A clean record without a user unassigns the device (R-I6, MDM-first); a record whose user
    field the connector emptied because it was malformed does not: the value is unknown."""
    bound = _manual(serial="SN-m1").model_copy(
        update={
            "source": "intune",
            "assigned_user": "alice@example.com",
            "binding": Binding(integration_id="intune-1", mdm_kind="intune", mdm_device_id="m1"),
            "mdm": MdmOnlyFields(mdm_device_id="m1", primary_user_email="alice@example.com"),
        }
    )
    seen = ObservedDevice(mdm_device_id="m1", serial_number="SN-m1", mdm=MdmOnlyFields(mdm_device_id="m1"))
    out = decide_observation(
        Ledger.of(TENANT, [bound]), LINK, RUN, seen, NOW, uuid.uuid4(), keep_empty=warned
    )
    if warned:
        assert isinstance(out, Unchanged)
    else:
        assert isinstance(out, Updated) and out.device.assigned_user is None
