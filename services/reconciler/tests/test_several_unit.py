"""R-P2–R-P4 (issue 14, `make mutation`): one ledger device bound to several MDMs, pinned outcome by
outcome — the device after each step (values, primary binding, source, other bindings, origins,
the primary's reported copy, missing marks, version, last seen) and the exact list of changes in
its order. Every expected value is written out here; none is computed by the code under test."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from ledger_contracts import Binding, BoundMdm, FieldChange, LedgerDevice, MdmOnlyFields, Provenance, Rule
from reconciler.core import (
    Ledger,
    MdmPriority,
    Unchanged,
    Updated,
    bindings_of,
    drop_binding,
    is_shared,
    mark_missing,
    recompose,
    reported_by_others,
)
from reconciler.core.ledger import binding_key
from reconciler.core.several import observe

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
T1 = datetime(2026, 11, 20, 8, tzinfo=UTC)
T2 = datetime(2026, 11, 25, 7, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 6, tzinfo=UTC)
DEV = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")
RUN = uuid.UUID("00000000-0000-4000-8000-0000000000a1")

B1 = Binding(integration_id="i1", mdm_kind="intune", mdm_device_id="m1")
B2 = Binding(integration_id="i2", mdm_kind="jamf_pro", mdm_device_id="j2")
B3 = Binding(integration_id="i3", mdm_kind="intune", mdm_device_id="m3")
MDM1 = MdmOnlyFields(device_name="PC-1", mdm_device_id="m1")
MDM2 = MdmOnlyFields(device_name="mac-2", mdm_device_id="j2", udid="U-2")
SYNC2 = Provenance(actor="sync", integration_id="i2", sync_run_id=RUN)
UNLINK = Provenance(actor="unlink", integration_id="i2")

# What the Jamf MDM (i2) reports for the device, every synced field set
JAMF: dict[str, str | None] = {
    "serial_number": "SER1",
    "os": "macOS (14.5)",
    "manufacturer": "Apple",
    "model": "MacBook Pro",
    "asset_number": "J-9",
    "assigned_user": "u2@x",
}


def device(**fields: object) -> LedgerDevice:
    base: dict[str, object] = {
        "device_id": DEV,
        "tenant_id": "acme",
        "version": 3,
        "source": "intune",
        "serial_number": "SER1",
        "os": "Windows (10.0.1)",
        "manufacturer": "Dell",
        "asset_number": "A-1",
        "assigned_user": "u1@x",
        "binding": B1,
        "mdm": MDM1,
        "last_seen_at": T1,
        "created_at": T0,
        "updated_at": T0,
    }
    return LedgerDevice(**(base | fields))


def change(field: str, before: object, after: object, rule: Rule, origin: str | None = None) -> FieldChange:
    return FieldChange(field=field, before=before, after=after, rule=rule, origin_integration_id=origin)


def ledger(*devices: LedgerDevice, priority: MdmPriority | None = None) -> Ledger:
    out = Ledger.of("acme", devices)
    if priority is not None:
        out.priority = priority
    return out


I1_REPORTED = {"os": "Windows (10.0.1)", "assigned_user": "u1@x"}


def shared(**fields: object) -> LedgerDevice:
    """Bound to i1 (primary, by binding order) and i2: the device after the Jamf MDM bound."""
    base: dict[str, object] = {
        "version": 4,
        "model": "MacBook Pro",
        "updated_at": NOW,
        "last_seen_at": NOW,
        "other_bindings": (BoundMdm(binding=B2, mdm=MDM2, last_seen_at=NOW, reported=dict(JAMF)),),
        "field_origins": {"os": "i1", "model": "i2", "assigned_user": "i1"},
        "reported": dict(I1_REPORTED),
    }
    return device(**(base | fields))


# --- is_shared, bindings_of, reported_by_others ------------------------------------------------


@pytest.mark.rule("R-P2")
def test_a_device_is_shared_only_while_another_mdm_is_bound() -> None:
    assert is_shared(shared()) is True
    assert is_shared(device()) is False
    assert is_shared(device(binding=None, mdm=None, source="manual")) is False


@pytest.mark.rule("R-P2")
def test_the_binding_key_is_the_primary_bindings() -> None:
    assert binding_key(shared()) == ("i1", "m1")
    assert binding_key(device(binding=B2)) == ("i2", "j2")
    assert binding_key(device(binding=None, mdm=None, source="manual")) is None


@pytest.mark.rule("R-P2")
def test_an_unbound_device_has_no_bindings() -> None:
    assert bindings_of(device(binding=None, mdm=None, source="manual")) == []


@pytest.mark.rule("R-P3")
def test_a_device_bound_to_one_mdm_reports_its_mdm_first_fields() -> None:
    single = device(missing_from_mdm=True, primary_missing_from_mdm=False)
    assert bindings_of(single) == [
        BoundMdm(
            binding=B1,
            mdm=MDM1,
            missing_from_mdm=True,
            last_seen_at=T1,
            reported={"os": "Windows (10.0.1)", "assigned_user": "u1@x"},
        )
    ]


@pytest.mark.rule("R-P2")
def test_a_shared_device_lists_its_primary_first_with_its_own_report_and_state() -> None:
    other = BoundMdm(binding=B2, mdm=MDM2, last_seen_at=T2, reported={"os": "macOS (14.5)"})
    d = shared(
        other_bindings=(other,),
        reported={"os": "Windows (11)", "model": "X1"},
        missing_from_mdm=False,
        primary_missing_from_mdm=True,
    )
    assert bindings_of(d) == [
        BoundMdm(
            binding=B1,
            mdm=MDM1,
            missing_from_mdm=True,
            last_seen_at=NOW,
            reported={"os": "Windows (11)", "model": "X1"},
        ),
        other,
    ]


@pytest.mark.rule("R-P4")
def test_reported_by_others_asks_whether_another_bound_mdm_still_reports_the_device() -> None:
    both = shared()
    assert reported_by_others(both, "i1") is True
    assert reported_by_others(both, "i2") is True
    gone2 = shared(
        other_bindings=(BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, reported=dict(JAMF)),)
    )
    assert reported_by_others(gone2, "i1") is False
    assert reported_by_others(gone2, "i2") is True
    gone1 = shared(primary_missing_from_mdm=True)
    assert reported_by_others(gone1, "i2") is False
    assert reported_by_others(gone1, "i1") is True
    assert reported_by_others(device(), "i1") is False
    assert reported_by_others(device(), "i2") is True
    assert reported_by_others(device(missing_from_mdm=True), "i2") is False
    assert reported_by_others(device(binding=None, mdm=None, source="manual"), "i1") is False


# --- observe: a second MDM binds ----------------------------------------------------------------


@pytest.mark.rule("R-P2")
@pytest.mark.rule("R-P3")
def test_a_second_mdm_binds_below_the_first_and_fills_only_empty_ledger_first_fields() -> None:
    before = device()
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.before == before
    assert out.provenance == SYNC2
    assert out.changes == (
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
    )
    assert out.device == shared()


@pytest.mark.rule("R-P1")
@pytest.mark.rule("R-P3")
def test_a_second_mdm_with_the_higher_priority_becomes_primary_and_source() -> None:
    before = device()
    prio = MdmPriority(order=("i2", "i1"))
    out = observe(ledger(before, priority=prio), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("os", "Windows (10.0.1)", "macOS (14.5)", "mdm_first", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
        change("assigned_user", "u1@x", "u2@x", "mdm_first", "i2"),
        change("binding", "m1", "j2", "binding", "i2"),
        change("source", "intune", "jamf_pro", "binding", "i2"),
        change("mdm.device_name", "PC-1", "mac-2", "mdm_only", "i2"),
        change("mdm.mdm_device_id", "m1", "j2", "mdm_only", "i2"),
        change("mdm.udid", None, "U-2", "mdm_only", "i2"),
    )
    assert out.device == device(
        version=4,
        source="jamf_pro",
        os="macOS (14.5)",
        model="MacBook Pro",
        assigned_user="u2@x",
        binding=B2,
        mdm=MDM2,
        updated_at=NOW,
        last_seen_at=NOW,
        other_bindings=(BoundMdm(binding=B1, mdm=MDM1, last_seen_at=T1, reported=dict(I1_REPORTED)),),
        field_origins={"os": "i2", "model": "i2", "assigned_user": "i2"},
        reported=dict(JAMF),
    )


@pytest.mark.rule("R-P1")
def test_the_ledger_os_chooses_the_family_order_not_the_os_the_new_mdm_reports() -> None:
    before = device()  # Windows in the ledger; the Jamf MDM says macOS
    prio = MdmPriority(per_os_family={"apple": ("i2",)})
    out = observe(ledger(before, priority=prio), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.binding == B1
    assert out.device.source == "intune"
    assert out.device.os == "Windows (10.0.1)"


@pytest.mark.rule("R-P1")
def test_without_an_os_in_the_ledger_the_reported_os_chooses_the_family_order() -> None:
    before = device(os=None)
    prio = MdmPriority(per_os_family={"apple": ("i2",)})
    out = observe(ledger(before, priority=prio), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.binding == B2
    assert out.device.source == "jamf_pro"
    assert out.device.os == "macOS (14.5)"
    assert out.device.field_origins["os"] == "i2"
    assert out.changes[1] == FieldChange(
        field="os", before=None, after="macOS (14.5)", rule="mdm_first", origin_integration_id="i2"
    )


@pytest.mark.rule("R-P3")
def test_a_filled_asset_number_is_made_unique_with_the_sys_prefix() -> None:
    before = device(asset_number=None)
    taken = LedgerDevice(
        device_id=OTHER,
        tenant_id="acme",
        version=1,
        source="manual",
        asset_number="J-9",
        model="MacBook Pro",
        created_at=T0,
        updated_at=T0,
    )
    out = observe(ledger(before, taken), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.asset_number == "SYSJ-9"
    assert out.device.model == "MacBook Pro"
    assert out.changes[1:] == (
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
        change("asset_number", None, "SYSJ-9", "ledger_first", "i2"),
    )
    assert out.device.field_origins == {
        "os": "i1",
        "model": "i2",
        "asset_number": "i2",
        "assigned_user": "i1",
    }


@pytest.mark.rule("R-P3")
def test_a_model_equal_to_a_taken_asset_number_is_not_prefixed() -> None:
    before = device(asset_number="A-1")
    taken = LedgerDevice(
        device_id=OTHER,
        tenant_id="acme",
        version=1,
        source="manual",
        asset_number="MBP",
        created_at=T0,
        updated_at=T0,
    )
    out = observe(ledger(before, taken), before, B2, MDM2, dict(JAMF, model="MBP"), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.model == "MBP"
    assert out.device.asset_number == "A-1"


@pytest.mark.rule("R-P3")
def test_a_ledger_first_field_no_mdm_reports_stays_empty_without_an_origin() -> None:
    before = device(manufacturer=None)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF, manufacturer=None, model=""), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.manufacturer is None
    assert out.device.model is None
    assert out.changes == (change("bindings", None, "i2:j2", "binding", "i2"),)
    assert out.device.field_origins == {"os": "i1", "assigned_user": "i1"}


@pytest.mark.rule("R-P4")
def test_a_second_mdm_reporting_a_device_every_mdm_had_lost_clears_its_missing_mark() -> None:
    before = device(missing_from_mdm=True)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    # i1 stays primary (priority = binding order) but reports nothing: the MDM-first fields are i2's
    assert out.changes == (
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("os", "Windows (10.0.1)", "macOS (14.5)", "mdm_first", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
        change("assigned_user", "u1@x", "u2@x", "mdm_first", "i2"),
        change("missing_from_mdm", True, False, "mdm_only"),
    )
    assert out.device == shared(
        os="macOS (14.5)",
        assigned_user="u2@x",
        missing_from_mdm=False,
        primary_missing_from_mdm=True,
        field_origins={"os": "i2", "model": "i2", "assigned_user": "i2"},
    )


# --- observe: a bound MDM reports again -----------------------------------------------------------


@pytest.mark.rule("R-P3")
def test_the_same_report_again_changes_nothing() -> None:
    before = shared()
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert out == Unchanged(before)
    again = observe(ledger(before), before, B1, MDM1, dict(I1_REPORTED), T2, SYNC2)
    assert again == Unchanged(before)


@pytest.mark.rule("R-P3")
def test_a_lower_priority_mdm_changing_its_report_changes_no_field_and_says_so() -> None:
    before = shared()
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF, assigned_user="u3@x"), T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (change("reported", None, None, "mdm_only"),)
    assert out.device == shared(
        version=5,
        updated_at=T2,
        other_bindings=(
            BoundMdm(binding=B2, mdm=MDM2, last_seen_at=NOW, reported=dict(JAMF, assigned_user="u3@x")),
        ),
    )


@pytest.mark.rule("R-P3")
def test_a_lower_priority_mdm_changing_its_mdm_only_fields_names_them_with_its_origin() -> None:
    before = shared()
    renamed = MDM2.model_copy(update={"device_name": "mac-renamed", "username": "jdoe"})
    out = observe(ledger(before), before, B2, renamed, dict(JAMF), T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("mdm.device_name", "mac-2", "mac-renamed", "mdm_only", "i2"),
        change("mdm.username", None, "jdoe", "mdm_only", "i2"),
    )
    assert out.device.mdm == MDM1
    assert out.device.other_bindings[0].mdm == renamed


@pytest.mark.rule("R-P2")
def test_the_primary_reporting_again_stays_primary() -> None:
    before = shared()
    out = observe(ledger(before), before, B1, MDM1, dict(I1_REPORTED, assigned_user="u5@x"), T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (change("assigned_user", "u1@x", "u5@x", "mdm_first", "i1"),)
    assert out.device == shared(
        version=5,
        updated_at=T2,
        assigned_user="u5@x",
        reported={"os": "Windows (10.0.1)", "assigned_user": "u5@x"},
    )


@pytest.mark.rule("R-P3")
def test_when_the_higher_mdm_reports_no_value_the_next_one_gives_it() -> None:
    before = shared()
    out = observe(ledger(before), before, B1, MDM1, {"os": "", "assigned_user": None}, T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("os", "Windows (10.0.1)", "macOS (14.5)", "mdm_first", "i2"),
        change("assigned_user", "u1@x", "u2@x", "mdm_first", "i2"),
    )
    assert out.device.field_origins == {"os": "i2", "model": "i2", "assigned_user": "i2"}
    assert out.device.reported == {"os": "", "assigned_user": None}


@pytest.mark.rule("R-P3")
def test_when_no_reporting_mdm_names_a_user_it_is_unassigned_but_the_os_stays() -> None:
    lost2 = BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T1, reported=dict(JAMF))
    before = shared(other_bindings=(lost2,))
    out = observe(ledger(before), before, B1, MDM1, {"os": None, "assigned_user": None}, T2, SYNC2)
    assert isinstance(out, Updated)
    # R-I6: the MDM is the master of the user; R-I2: no OS named says nothing about the OS
    assert out.changes == (change("assigned_user", "u1@x", None, "mdm_first"),)
    assert out.device.os == "Windows (10.0.1)"
    assert out.device.assigned_user is None
    assert out.device.field_origins == {"os": "i1", "model": "i2"}


@pytest.mark.rule("R-M14")
def test_with_keep_empty_an_emptied_value_keeps_the_last_one_reported() -> None:
    before = shared()
    emptied = MdmOnlyFields(device_name=None, mdm_device_id="j2", udid="U-3")
    reported = dict(JAMF, assigned_user=None, model="MacBook Air")
    out = observe(ledger(before), before, B2, emptied, reported, T2, SYNC2, keep_empty=True)
    assert isinstance(out, Updated)
    assert out.device.other_bindings == (
        BoundMdm(
            binding=B2,
            mdm=MdmOnlyFields(device_name="mac-2", mdm_device_id="j2", udid="U-3"),
            last_seen_at=NOW,
            reported=dict(JAMF, model="MacBook Air"),
        ),
    )
    assert out.changes == (change("mdm.udid", "U-2", "U-3", "mdm_only", "i2"),)


@pytest.mark.rule("R-M14")
def test_without_keep_empty_an_emptied_value_is_taken() -> None:
    before = shared()
    emptied = MdmOnlyFields(device_name=None, mdm_device_id="j2", udid="U-2")
    out = observe(ledger(before), before, B2, emptied, dict(JAMF, assigned_user=None), T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.other_bindings == (
        BoundMdm(binding=B2, mdm=emptied, last_seen_at=NOW, reported=dict(JAMF, assigned_user=None)),
    )
    assert out.changes == (change("mdm.device_name", "mac-2", None, "mdm_only", "i2"),)


@pytest.mark.rule("R-M14")
def test_keep_empty_with_nothing_emptied_or_no_earlier_mdm_block_takes_the_report() -> None:
    full = shared()
    out = observe(ledger(full), full, B2, MDM2, dict(JAMF), T2, SYNC2, keep_empty=True)
    assert out == Unchanged(full)
    no_block = shared(other_bindings=(BoundMdm(binding=B2, last_seen_at=NOW, reported=dict(JAMF)),))
    out = observe(ledger(no_block), no_block, B2, MDM2, dict(JAMF), T2, SYNC2, keep_empty=True)
    assert isinstance(out, Updated)
    assert out.device.other_bindings[0].mdm == MDM2


@pytest.mark.rule("R-M14")
def test_keep_empty_for_a_new_binding_takes_its_report_as_it_is() -> None:
    before = device()
    emptied = MdmOnlyFields(mdm_device_id="j2")
    out = observe(ledger(before), before, B2, emptied, dict(JAMF, model=None), NOW, SYNC2, keep_empty=True)
    assert isinstance(out, Updated)
    assert out.device.other_bindings == (
        BoundMdm(binding=B2, mdm=emptied, last_seen_at=NOW, reported=dict(JAMF, model=None)),
    )
    assert out.device.model is None


@pytest.mark.rule("R-P4")
def test_a_missing_binding_reporting_again_is_seen_now_and_no_longer_missing() -> None:
    lost2 = BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T1, reported=dict(JAMF))
    before = shared(other_bindings=(lost2,), last_seen_at=T1)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), T2, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (change("reported", None, None, "mdm_only"),)
    assert out.device == shared(
        version=5,
        updated_at=T2,
        last_seen_at=T2,
        other_bindings=(BoundMdm(binding=B2, mdm=MDM2, last_seen_at=T2, reported=dict(JAMF)),),
    )


# --- mark_missing ---------------------------------------------------------------------------------


@pytest.mark.rule("R-P4")
def test_one_mdm_losing_a_shared_device_marks_only_its_binding() -> None:
    before = shared()
    run_end = Provenance(actor="sync", integration_id="i2", sync_run_id=RUN)
    out = mark_missing(ledger(before), before, "i2", T1, T2, run_end)
    assert isinstance(out, Updated)
    assert out.provenance == run_end
    assert out.changes == (change("reported", None, None, "mdm_only"),)
    assert out.device == shared(
        version=5,
        updated_at=T2,
        last_seen_at=NOW,  # the primary still reports it (seen at NOW)
        other_bindings=(
            BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T1, reported=dict(JAMF)),
        ),
    )


@pytest.mark.rule("R-P4")
def test_the_primary_losing_a_shared_device_hands_its_fields_to_the_other_but_stays_primary() -> None:
    before = shared(last_seen_at=T2)
    out = mark_missing(ledger(before), before, "i1", None, NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("os", "Windows (10.0.1)", "macOS (14.5)", "mdm_first", "i2"),
        change("assigned_user", "u1@x", "u2@x", "mdm_first", "i2"),
    )
    assert out.device == shared(
        version=5,
        os="macOS (14.5)",
        assigned_user="u2@x",
        last_seen_at=NOW,  # no time given: the binding's own last seen (NOW) stays
        primary_missing_from_mdm=True,
        field_origins={"os": "i2", "model": "i2", "assigned_user": "i2"},
    )


@pytest.mark.rule("R-P4")
def test_a_shared_device_is_missing_once_every_mdm_lost_it_and_keeps_its_values() -> None:
    lost2 = BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T1, reported=dict(JAMF))
    before = shared(other_bindings=(lost2,), last_seen_at=NOW)
    out = mark_missing(ledger(before), before, "i1", T2, NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (change("missing_from_mdm", False, True, "mdm_only"),)
    assert out.device == shared(
        version=5,
        other_bindings=(lost2,),
        missing_from_mdm=True,
        primary_missing_from_mdm=True,
        last_seen_at=T2,
    )


@pytest.mark.rule("R-P4")
def test_marking_an_already_missing_binding_again_changes_nothing() -> None:
    lost2 = BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T1, reported=dict(JAMF))
    before = shared(other_bindings=(lost2,))
    assert mark_missing(ledger(before), before, "i2", T2, NOW, SYNC2) == Unchanged(before)
    assert mark_missing(ledger(before), before, "i9", T2, NOW, SYNC2) == Unchanged(before)


@pytest.mark.rule("R-P4")
def test_with_no_last_seen_anywhere_the_device_keeps_its_own() -> None:
    other = BoundMdm(binding=B2, mdm=MDM2, reported=dict(JAMF))
    before = shared(other_bindings=(other,), last_seen_at=None)
    out = mark_missing(ledger(before), before, "i2", None, NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.last_seen_at is None
    assert out.device.other_bindings == (other.model_copy(update={"missing_from_mdm": True}),)


# --- drop_binding ---------------------------------------------------------------------------------


@pytest.mark.rule("R-P4")
def test_unlinking_the_primary_mdm_moves_the_device_to_the_next_one() -> None:
    before = shared(
        source="jamf_pro",
        os="macOS (14.5)",
        assigned_user="u2@x",
        binding=B2,
        mdm=MDM2,
        other_bindings=(BoundMdm(binding=B1, mdm=None, last_seen_at=T1, reported=dict(I1_REPORTED)),),
        field_origins={"os": "i2", "model": "i2", "assigned_user": "i2"},
        reported=dict(JAMF),
    )
    out = drop_binding(ledger(before), before, "i2", T2, UNLINK)
    assert isinstance(out, Updated)
    assert out.provenance == UNLINK
    assert out.changes == (
        change("bindings", "i2:j2", None, "unlink", "i2"),
        change("os", "macOS (14.5)", "Windows (10.0.1)", "mdm_first", "i1"),
        change("assigned_user", "u2@x", "u1@x", "mdm_first", "i1"),
        change("binding", "j2", "m1", "binding", "i1"),
        change("source", "jamf_pro", "intune", "binding", "i1"),
        change("mdm.device_name", "mac-2", None, "mdm_only", "i1"),
        change("mdm.mdm_device_id", "j2", None, "mdm_only", "i1"),
        change("mdm.udid", "U-2", None, "mdm_only", "i1"),
    )
    # Bound to one MDM again: no origins, no reported copy, no primary state of its own
    assert out.device == device(
        version=5,
        model="MacBook Pro",
        mdm=None,
        updated_at=T2,
        last_seen_at=T1,
    )


@pytest.mark.rule("R-P4")
def test_unlinking_the_other_mdm_keeps_the_primary_and_the_filled_values() -> None:
    lost1 = shared(primary_missing_from_mdm=True)
    out = drop_binding(ledger(lost1), lost1, "i2", T2, UNLINK)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("bindings", "i2:j2", None, "unlink", "i2"),
        change("missing_from_mdm", False, True, "mdm_only"),
    )
    assert out.device == device(
        version=5,
        model="MacBook Pro",
        missing_from_mdm=True,
        primary_missing_from_mdm=False,
        updated_at=T2,
        last_seen_at=NOW,
    )


@pytest.mark.rule("R-P4")
def test_a_shared_device_with_three_mdms_keeps_two_after_one_unlink() -> None:
    third = BoundMdm(
        binding=B3, mdm=None, last_seen_at=T0, reported={"os": "Windows (11)", "assigned_user": "u3@x"}
    )
    before = shared(other_bindings=(*shared().other_bindings, third))
    out = drop_binding(ledger(before, priority=MdmPriority(("i3", "i1"))), before, "i1", T2, UNLINK)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("bindings", "i1:m1", None, "unlink", "i1"),
        change("os", "Windows (10.0.1)", "Windows (11)", "mdm_first", "i3"),
        change("assigned_user", "u1@x", "u3@x", "mdm_first", "i3"),
        change("binding", "m1", "m3", "binding", "i3"),
        change("mdm.device_name", "PC-1", None, "mdm_only", "i3"),
        change("mdm.mdm_device_id", "m1", None, "mdm_only", "i3"),
    )
    assert out.device == shared(
        version=5,
        os="Windows (11)",
        assigned_user="u3@x",
        binding=B3,
        mdm=None,
        updated_at=T2,
        other_bindings=shared().other_bindings,
        field_origins={"os": "i3", "model": "i2", "assigned_user": "i3"},
        reported={"os": "Windows (11)", "assigned_user": "u3@x"},
    )


@pytest.mark.rule("R-P4")
def test_dropping_the_last_binding_is_refused() -> None:
    single = device()
    with pytest.raises(AssertionError, match=r"^recompose needs at least one binding$"):
        drop_binding(ledger(single), single, "i1", T2, UNLINK)


# --- recompose directly: a priority change (R-P1) ------------------------------------------------


@pytest.mark.rule("R-P1")
def test_a_new_priority_recomposes_the_other_bindings_mdm_block_under_their_origin() -> None:
    before = shared()
    moved = [
        BoundMdm(binding=B1, mdm=MDM1, last_seen_at=NOW, reported=dict(I1_REPORTED)),
        BoundMdm(
            binding=B2, mdm=MDM2.model_copy(update={"username": "jd"}), last_seen_at=NOW, reported=dict(JAMF)
        ),
    ]
    prov = Provenance(actor="manual")
    out = recompose(ledger(before), before, moved, T2, prov, extra=[FieldChange(field="x", rule="manual")])
    assert isinstance(out, Updated)
    assert out.changes == (
        FieldChange(field="x", rule="manual"),
        change("mdm.username", None, "jd", "mdm_only", "i2"),
    )


# --- edges of recompose ---------------------------------------------------------------------------


@pytest.mark.rule("R-P2")
def test_an_unbound_device_observed_takes_the_mdm_as_its_only_binding() -> None:
    before = device(binding=None, mdm=None, source="manual", os=None, assigned_user=None, last_seen_at=None)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("os", None, "macOS (14.5)", "mdm_first", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
        change("assigned_user", None, "u2@x", "mdm_first", "i2"),
        change("binding", None, "j2", "binding", "i2"),
        change("source", "manual", "jamf_pro", "binding", "i2"),
        change("mdm.device_name", None, "mac-2", "mdm_only", "i2"),
        change("mdm.mdm_device_id", None, "j2", "mdm_only", "i2"),
        change("mdm.udid", None, "U-2", "mdm_only", "i2"),
    )
    assert out.device == device(
        version=4,
        source="jamf_pro",
        os="macOS (14.5)",
        model="MacBook Pro",
        assigned_user="u2@x",
        binding=B2,
        mdm=MDM2,
        updated_at=NOW,
        last_seen_at=NOW,
    )


@pytest.mark.rule("R-P3")
def test_an_os_nobody_reporting_names_keeps_the_value_and_origin_of_the_mdm_it_came_from() -> None:
    before = device(missing_from_mdm=True)  # i1 gave the OS and the user, then lost the device
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF, os=None), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.os == "Windows (10.0.1)"
    assert out.device.field_origins == {"os": "i1", "model": "i2", "assigned_user": "i2"}


@pytest.mark.rule("R-P3")
def test_a_single_mdm_gives_no_origin_for_a_field_it_left_empty() -> None:
    before = device(missing_from_mdm=True, assigned_user=None)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF, os=None, assigned_user=None), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.assigned_user is None
    assert out.device.field_origins == {"os": "i1", "model": "i2"}


@pytest.mark.rule("R-P3")
def test_an_empty_ledger_first_text_is_filled_like_a_missing_one() -> None:
    before = device(manufacturer="", serial_number=None)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.changes == (
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("serial_number", None, "SER1", "ledger_first", "i2"),
        change("manufacturer", "", "Apple", "ledger_first", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
    )
    assert out.device.field_origins == {
        "serial_number": "i2",
        "os": "i1",
        "manufacturer": "i2",
        "model": "i2",
        "assigned_user": "i1",
    }


@pytest.mark.rule("R-P2")
def test_a_binding_added_later_is_seen_when_the_mdm_reported_it_after_the_callers_changes() -> None:
    before = device()
    rebound = change("rebound", None, "i2:j2", "binding", "i2")
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2, seen_at=T2, extra=[rebound])
    assert isinstance(out, Updated)
    assert out.changes == (
        rebound,
        change("bindings", None, "i2:j2", "binding", "i2"),
        change("model", None, "MacBook Pro", "ledger_first", "i2"),
    )
    assert out.device == shared(
        last_seen_at=T2, other_bindings=(shared().other_bindings[0].model_copy(update={"last_seen_at": T2}),)
    )


@pytest.mark.rule("R-P4")
def test_a_missing_binding_reporting_again_later_is_seen_when_it_reported() -> None:
    lost2 = BoundMdm(binding=B2, mdm=MDM2, missing_from_mdm=True, last_seen_at=T0, reported=dict(JAMF))
    before = shared(other_bindings=(lost2,), last_seen_at=T0)
    out = observe(ledger(before), before, B2, MDM2, dict(JAMF), NOW, SYNC2, seen_at=T1)
    assert isinstance(out, Updated)
    assert out.device.other_bindings == (
        BoundMdm(binding=B2, mdm=MDM2, last_seen_at=T1, reported=dict(JAMF)),
    )
    assert out.device.last_seen_at == T1
    # Still reporting: its own last seen stays, whatever the caller says
    again = observe(ledger(before), shared(), B2, MDM2, dict(JAMF), NOW, SYNC2, seen_at=T1)
    assert again == Unchanged(shared())


@pytest.mark.rule("R-P1")
def test_without_a_priority_integrations_rank_by_id_not_by_which_bound_first() -> None:
    before = device(binding=B2, mdm=MDM2, source="jamf_pro", os="macOS (14.5)", assigned_user="u2@x")
    i1: dict[str, str | None] = {"os": "Windows (11)", "assigned_user": "u1@x", "model": "X1"}
    out = observe(ledger(before), before, B1, MDM1, i1, NOW, SYNC2)
    assert isinstance(out, Updated)
    assert out.device.binding == B1
    assert out.device.source == "intune"
    assert out.device.os == "Windows (11)"
    assert out.device.other_bindings == (
        BoundMdm(
            binding=B2, mdm=MDM2, last_seen_at=T1, reported={"os": "macOS (14.5)", "assigned_user": "u2@x"}
        ),
    )
