"""The end of a run and of a master link on devices bound to several MDMs, and re-enrollment over
several devices (issue 14, `make mutation`): each skipped device leaves the next one decided, a
shared device's binding is marked missing with when it was last reported and applied to the
ledger, an unlink that keeps a device clears every trace of the other MDMs. Literal values only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger_contracts import (
    Binding,
    BoundMdm,
    LedgerDevice,
    MasterLinkSettings,
    MdmOnlyFields,
    ObservedDevice,
    UnlinkMasterLink,
)
from reconciler.core import ConflictRecord, Ledger, RunEnd, Updated, decide_run_end, decide_unlink

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 8, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 6, tzinfo=UTC)
RUN = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
CMD = uuid.UUID("00000000-0000-4000-8000-0000000000c1")
D1 = uuid.UUID("00000000-0000-4000-8000-000000000001")
D2 = uuid.UUID("00000000-0000-4000-8000-000000000002")
LINK = MasterLinkSettings(master_link_id="ml-1", integration_id="i1", mdm_kind="intune")
B2 = Binding(integration_id="i2", mdm_kind="jamf_pro", mdm_device_id="j2")


def bound(device_id: uuid.UUID, mdm_id: str, **fields: object) -> LedgerDevice:
    base: dict[str, object] = {
        "device_id": device_id,
        "tenant_id": "acme",
        "version": 3,
        "source": "intune",
        "serial_number": f"SN-{mdm_id}",
        "binding": Binding(integration_id="i1", mdm_kind="intune", mdm_device_id=mdm_id),
        "last_seen_at": T0,
        "created_at": T0,
        "updated_at": T0,
    }
    return LedgerDevice(**(base | fields))


def shared(device_id: uuid.UUID, mdm_id: str, **fields: object) -> LedgerDevice:
    other = BoundMdm(binding=B2, last_seen_at=T0, reported={"os": "macOS (14.5)"})
    base: dict[str, object] = {
        "os": "Windows (11)",
        "other_bindings": (other,),
        "field_origins": {"os": "i1"},
        "reported": {"os": "Windows (11)", "assigned_user": None},
    }
    return bound(device_id, mdm_id, **(base | fields))


def conflict(new_id: str, candidates: tuple[uuid.UUID, ...], n: int) -> ConflictRecord:
    return ConflictRecord(
        conflict_id=uuid.UUID(int=0xF0 + n),
        tenant_id="acme",
        link=LINK,
        sync_run_id=RUN,
        rule="bound_to_other_mdm_device",
        candidates=candidates,
        observed=ObservedDevice(mdm_device_id=new_id, serial_number=f"SN-{new_id}"),
        message="m",
        first_seen_at=T1,
        last_seen_at=T1,
    )


def reenrolled(ledger: Ledger, end: RunEnd, *, dry_run: bool = False) -> list[tuple[uuid.UUID, str]]:
    out = decide_run_end(ledger, LINK, RUN, end, NOW, partial=None, dry_run=dry_run)
    pairs = []
    for moved, _closed in out.reenrolled:
        assert moved.device.binding is not None
        pairs.append((moved.device.device_id, moved.device.binding.mdm_device_id))
    return pairs


def skip_reason(reason: str) -> tuple[Ledger, RunEnd]:
    """D1 is not re-enrolled for `reason`; D2 (sorted after it) is, cleanly."""
    first = shared(D1, "m-1") if reason == "shared" else bound(D1, "m-1")
    devices = [first, bound(D2, "m-2")]
    if reason == "new id bound already":
        devices.append(bound(uuid.UUID(int=99), "n-1"))
    ledger = Ledger.of("acme", devices)
    ledger.put_conflict(conflict("n-2", (D2,), 2))
    if reason == "ignored":
        ledger.ignored.add(("i1", "n-1"))
    if reason == "conflict changed":
        ledger.put_conflict(conflict("n-1", (D1, D2), 1))
    elif reason != "resolved meanwhile":
        ledger.put_conflict(conflict("n-1", (D1,), 1))
    return ledger, RunEnd(unseen=(D1, D2), reenroll=(("n-1", D1), ("n-2", D2)))


def test_two_devices_reenrolled_in_one_run() -> None:
    ledger, end = skip_reason("none")
    assert reenrolled(ledger, end) == [(D1, "n-1"), (D2, "n-2")]


@pytest.mark.parametrize(
    "reason", ["shared", "new id bound already", "ignored", "resolved meanwhile", "conflict changed"]
)
def test_a_device_not_reenrolled_leaves_the_next_one_reenrolled(reason: str) -> None:
    ledger, end = skip_reason(reason)
    assert reenrolled(ledger, end) == [(D2, "n-2")]


def test_a_reenrollment_needs_the_conflict_unless_it_is_a_dry_run() -> None:
    ledger = Ledger.of("acme", [bound(D1, "m-1")])
    end = RunEnd(unseen=(D1,), reenroll=(("n-1", D1),))
    assert reenrolled(ledger.fork(), end) == []
    out = decide_run_end(ledger.fork(), LINK, RUN, end, NOW, partial=None)
    assert out.reenrolled == ()
    assert [m.device.device_id for m in out.missing] == [D1]
    assert reenrolled(ledger.fork(), end, dry_run=True) == [(D1, "n-1")]


def test_an_unbound_device_is_never_reenrolled() -> None:
    unbound = bound(D1, "m-1", binding=None, source="manual")
    ledger = Ledger.of("acme", [unbound])
    ledger.put_conflict(conflict("n-1", (D1,), 1))
    out = decide_run_end(ledger, LINK, RUN, RunEnd(unseen=(D1,), reenroll=(("n-1", D1),)), NOW, partial=None)
    assert out.reenrolled == ()
    assert out.missing == ()
    assert out.unseen == 0


@pytest.mark.rule("R-P4")
def test_run_end_marks_the_binding_of_each_shared_device_with_when_it_was_last_reported() -> None:
    ledger = Ledger.of("acme", [shared(D1, "m-1"), shared(D2, "m-2", serial_number="SN-x")])
    end = RunEnd(unseen=(D1, D2), last_seen={"m-1": T1})
    out = decide_run_end(ledger, LINK, RUN, end, NOW, partial=None)
    assert out.unseen == 2
    assert [m.device.device_id for m in out.missing] == [D1, D2]
    first, second = out.missing
    assert isinstance(first, Updated)
    assert first.device.primary_missing_from_mdm is True
    assert first.device.missing_from_mdm is False  # i2 still reports it
    assert first.device.last_seen_at == T1  # the max of i1's T1 and i2's T0
    assert second.device.last_seen_at == T0  # no time for m-2: its own stays
    assert first.device.os == "macOS (14.5)"  # i1 reports nothing now: i2's value
    # applied to the ledger, so later decisions of the batch see it
    assert ledger.devices[D1] == first.device
    assert ledger.devices[D2] == second.device


@pytest.mark.rule("R-S4")
@pytest.mark.rule("R-P4")
def test_unlink_keep_of_a_device_no_other_mdm_reports_clears_the_other_bindings() -> None:
    lost = BoundMdm(binding=B2, missing_from_mdm=True, last_seen_at=T0, reported={"os": "macOS (14.5)"})
    before = shared(
        D1,
        "m-1",
        mdm=MdmOnlyFields(device_name="PC-1"),
        other_bindings=(lost,),
        missing_from_mdm=True,
        primary_missing_from_mdm=True,
    )
    command = UnlinkMasterLink(
        event_id=CMD, tenant_id="acme", master_link_id="ml-1", integration_id="i1", keep_devices=True
    )
    out = decide_unlink(before, command, NOW)
    assert isinstance(out, Updated)
    assert out.device == bound(
        D1,
        "m-1",
        os="Windows (11)",
        source="manual",
        binding=None,
        last_seen_at=None,
        version=4,
        updated_at=NOW,
    )
    assert out.device.other_bindings == ()
    assert out.device.field_origins == {}
    assert out.device.reported == {}
    assert out.device.primary_missing_from_mdm is False


@pytest.mark.rule("R-I6")
def test_a_reenrollment_takes_the_snapshots_empty_user_as_unassigned() -> None:
    ledger = Ledger.of("acme", [bound(D1, "m-1", assigned_user="u1@x")])
    ledger.put_conflict(conflict("n-1", (D1,), 1))  # its snapshot names no user
    out = decide_run_end(ledger, LINK, RUN, RunEnd(unseen=(D1,), reenroll=(("n-1", D1),)), NOW, partial=None)
    ((moved, _closed),) = out.reenrolled
    assert moved.device.assigned_user is None
    assert moved.device.last_seen_at == T1
