"""Observations on each path of `decide_observation` (issue 14, `make mutation`): R-M14's
`keep_empty` reaches every path where an earlier value exists (a bound shared device, a binding an
unlink remembered, a plain match), an ignored MDM device comes back as itself, a conflict names its
integration and, on a shared candidate, the binding of its own integration; a conflict kept up to
date takes the new snapshot and link. Literal values only."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from ledger_contracts import Binding, BoundMdm, LedgerDevice, MasterLinkSettings, ObservedDevice
from reconciler.core import (
    Conflict,
    Ignored,
    Ledger,
    Outcome,
    Unchanged,
    Updated,
    decide_observation,
    track_conflict,
)

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 6, tzinfo=UTC)
RUN = uuid.UUID("00000000-0000-4000-8000-0000000000a1")
DEV = uuid.UUID("00000000-0000-4000-8000-000000000001")
NEW = uuid.UUID("00000000-0000-4000-8000-0000000000e1")
LINK = MasterLinkSettings(master_link_id="ml-1", integration_id="i1", mdm_kind="intune")
B1 = Binding(integration_id="i1", mdm_kind="intune", mdm_device_id="m-1")
B2 = Binding(integration_id="i2", mdm_kind="jamf_pro", mdm_device_id="j-2")


def device(**fields: object) -> LedgerDevice:
    base: dict[str, object] = {
        "device_id": DEV,
        "tenant_id": "acme",
        "version": 3,
        "source": "manual",
        "serial_number": "SN-1",
        "assigned_user": "u1@x",
        "created_at": T0,
        "updated_at": T0,
    }
    return LedgerDevice(**(base | fields))


def observe(
    ledger: Ledger, observed: ObservedDevice, *, keep_empty: bool = False, shared_by: int = 1
) -> Outcome:
    return decide_observation(
        ledger, LINK, RUN, observed, NOW, NEW, keep_empty=keep_empty, shared_by=shared_by
    )


EMPTIED = ObservedDevice(mdm_device_id="m-1", serial_number="SN-1", assigned_user=None)


def shared_on_i1() -> LedgerDevice:
    other = BoundMdm(binding=B2, last_seen_at=T0, reported={"assigned_user": None})
    return device(
        source="intune",
        binding=B1,
        other_bindings=(other,),
        field_origins={"assigned_user": "i1"},
        reported={"os": None, "assigned_user": "u1@x"},
    )


def remembered() -> Ledger:
    ledger = Ledger.of("acme", [device()])
    ledger.former[("i1", "m-1")] = DEV
    return ledger


@pytest.mark.rule("R-M14")
@pytest.mark.parametrize(
    "ledger",
    [
        pytest.param(lambda: Ledger.of("acme", [shared_on_i1()]), id="bound, shared"),
        pytest.param(remembered, id="remembered by an unlink (R-S7)"),
        pytest.param(lambda: Ledger.of("acme", [device()]), id="matched by serial (R-M2)"),
    ],
)
def test_keep_empty_keeps_the_last_value_on_every_path(ledger: Callable[[], Ledger]) -> None:
    kept = observe(ledger(), EMPTIED, keep_empty=True)
    assert isinstance(kept, Updated | Unchanged)
    assert kept.device.assigned_user == "u1@x"
    erased = observe(ledger(), EMPTIED)
    assert isinstance(erased, Updated)
    assert erased.device.assigned_user is None


@pytest.mark.rule("R-M9")
def test_an_ignored_mdm_device_comes_back_as_itself() -> None:
    ledger = Ledger.of("acme", [device()])
    ledger.ignored.add(("i1", "m-1"))
    assert observe(ledger, EMPTIED) == Ignored(EMPTIED)


@pytest.mark.rule("R-M15")
def test_a_key_shared_by_several_mdm_devices_of_the_run_conflicts_for_this_integration() -> None:
    out = observe(Ledger.of("acme", [device()]), EMPTIED, shared_by=2)
    assert out == Conflict(
        "ambiguous_match",
        "i1",
        EMPTIED,
        (DEV,),
        "serial_number 'SN-1' is shared by 2 MDM devices of the run; it matches 1 ledger device(s) "
        "by serial_number",
    )


@pytest.mark.rule("R-P2")
def test_a_shared_candidate_with_a_binding_of_this_integration_names_that_binding() -> None:
    other_i1 = BoundMdm(binding=Binding(integration_id="i1", mdm_kind="intune", mdm_device_id="m-5"))
    candidate = device(source="jamf_pro", binding=B2, other_bindings=(other_i1,))
    out = observe(Ledger.of("acme", [candidate]), EMPTIED)
    assert out == Conflict(
        "bound_to_other_mdm_device",
        "i1",
        EMPTIED,
        (DEV,),
        f"serial_number 'SN-1' matches device {DEV}, which is bound to intune device m-5 of integration i1",
    )


@pytest.mark.rule("R-J3")
def test_only_the_asset_number_gets_the_sys_prefix_when_filled() -> None:
    taken = device(device_id=uuid.UUID(int=7), serial_number="SN-7", asset_number="A-1")
    ledger = Ledger.of("acme", [device(), taken])
    observed = ObservedDevice(mdm_device_id="m-1", serial_number="SN-1", model="A-1", uuid="A-1")
    out = observe(ledger, observed)
    assert isinstance(out, Updated)
    assert out.device.model == "A-1"
    assert out.device.asset_number == "SYSA-1"


@pytest.mark.rule("R-M9")
def test_a_conflict_kept_up_to_date_takes_the_new_snapshot_and_link() -> None:
    ledger = Ledger.of("acme", [device(), device(device_id=uuid.UUID(int=7))])
    first = observe(ledger, EMPTIED)
    assert isinstance(first, Conflict)
    record = track_conflict(ledger, first, LINK, RUN, uuid.UUID(int=0xF1), T0)
    assert record is not None
    ledger.put_conflict(record)
    renamed = EMPTIED.model_copy(update={"device_name": "PC-1"})
    relinked = LINK.model_copy(update={"generation": 2})
    again = observe(ledger, renamed)
    assert isinstance(again, Conflict)
    later = track_conflict(ledger, again, relinked, RUN, uuid.UUID(int=0xF2), NOW)
    assert later is not None
    assert later.observed == renamed
    assert later.link == relinked
    assert (later.conflict_id, later.first_seen_at, later.last_seen_at) == (uuid.UUID(int=0xF1), T0, NOW)


@pytest.mark.rule("R-I5")
@pytest.mark.rule("R-P3")
@pytest.mark.parametrize(("source", "asset"), [("uuid", "U-1"), ("device_name", "N-1")])
def test_a_second_mdm_fills_the_asset_number_from_its_links_source(source: str, asset: str) -> None:
    candidate = device(source="jamf_pro", binding=B2)
    link = LINK.model_copy(update={"asset_number_source": source})
    observed = ObservedDevice(mdm_device_id="m-1", serial_number="SN-1", uuid="U-1", device_name="N-1")
    out = decide_observation(Ledger.of("acme", [candidate]), link, RUN, observed, NOW, NEW)
    assert isinstance(out, Updated)
    assert out.device.asset_number == asset
    assert out.device.field_origins["asset_number"] == "i1"
