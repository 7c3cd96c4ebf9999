"""Mutation-driven tests of the reconciler core (issue 14, `make mutation`): each pins a detail that a
surviving mutant changed without any test noticing — the exact outcome of a manual command, the
codes and messages a person gets back, what a dry-run fork shares with the ledger. Literal
expected values only; no expected value is computed by the code under test."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC, datetime

import pytest

from ledger_contracts import (
    Binding,
    BoundMdm,
    CreateDevice,
    DeleteDevice,
    DeviceFieldsInput,
    FieldChange,
    ImportDevices,
    ImportRow,
    LedgerDevice,
    MasterLinkSettings,
    MdmOnlyFields,
    ObservedDevice,
    Provenance,
    ResolveConflict,
    UnlinkMasterLink,
    UpdateDevice,
)
from reconciler.core import (
    Conflict,
    ConflictRecord,
    Created,
    Deleted,
    Ledger,
    LinkGeneration,
    Rejected,
    Resolved,
    RunEnd,
    RunEndDecision,
    Unchanged,
    Updated,
    apply,
    command_verdict,
    decide_create,
    decide_delete,
    decide_observation,
    decide_resolution,
    decide_run_end,
    decide_unlink,
    decide_update,
    partial_reason,
    resolve_field,
    run_verdict,
    settle_conflict,
    track_conflict,
)
from reconciler.core.csv_import import ImportDecision, decide_import

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, 9, tzinfo=UTC)
NOW = datetime(2026, 11, 29, 6, tzinfo=UTC)
DEV = uuid.UUID("00000000-0000-4000-8000-000000000001")
OTHER = uuid.UUID("00000000-0000-4000-8000-000000000002")
CMD = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def device(device_id: uuid.UUID = DEV, **fields: object) -> LedgerDevice:
    base: dict[str, object] = {
        "device_id": device_id,
        "tenant_id": "acme",
        "version": 3,
        "source": "manual",
        "created_at": T0,
        "updated_at": T0,
    }
    return LedgerDevice(**(base | fields))  # type: ignore[arg-type]  # test values, validated by pydantic


def bound(device_id: uuid.UUID = DEV, **fields: object) -> LedgerDevice:
    binding = Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-77")
    return device(
        device_id, source="intune", binding=binding, mdm=MdmOnlyFields(device_name="PC-77"), **fields
    )


def update(**fields: object) -> UpdateDevice:
    return UpdateDevice(event_id=CMD, tenant_id="acme", device_id=DEV, fields=DeviceFieldsInput(**fields))  # type: ignore[arg-type]


def manual_provenance() -> Provenance:
    return Provenance(actor="manual", command_id=CMD)


# --- decide_update ---------------------------------------------------------------------------------


def test_updating_an_unknown_device_is_rejected_with_its_id_code_and_message() -> None:
    out = decide_update(Ledger.of("acme", []), update(model="X1"), NOW)
    assert out == Rejected(CMD, DEV, "not_found", "no such device")


def test_an_update_to_another_devices_asset_number_is_rejected_verbatim() -> None:
    ledger = Ledger.of("acme", [device(asset_number="A-1"), device(OTHER, asset_number="A-2")])
    out = decide_update(ledger, update(asset_number=" a-2 "), NOW)
    assert out == Rejected(CMD, DEV, "asset_number_taken", "asset number 'a-2' belongs to another device")


def test_keeping_its_own_asset_number_in_another_spelling_is_no_clash() -> None:
    ledger = Ledger.of("acme", [device(asset_number="A-1"), device(OTHER, asset_number="A-2")])
    out = decide_update(ledger, update(asset_number="a-1"), NOW)
    assert isinstance(out, Updated)
    assert out.changes == (FieldChange(field="asset_number", before="A-1", after="a-1", rule="manual"),)


def test_an_update_records_each_field_before_and_after_and_bumps_the_version() -> None:
    before = device(model="Latitude 5440", notes="old", custom_fields={"cost_center": "IT", "room": "3F"})
    out = decide_update(
        Ledger.of("acme", [before]),
        update(
            model="  Latitude 7440 ",
            notes="  ",
            custom_fields={"cost_center": "HR", "room": None, "tag": "x"},
        ),
        NOW,
    )
    assert isinstance(out, Updated)
    assert out.before == before
    assert out.provenance == manual_provenance()
    # A set: the order of a manual update's changes follows the input's key set (see the report).
    assert set(out.changes) == {
        FieldChange(field="model", before="Latitude 5440", after="Latitude 7440", rule="manual"),
        FieldChange(field="notes", before="old", after=None, rule="manual"),
        FieldChange(field="custom_fields.cost_center", before="IT", after="HR", rule="manual"),
        FieldChange(field="custom_fields.room", before="3F", after=None, rule="manual"),
        FieldChange(field="custom_fields.tag", before=None, after="x", rule="manual"),
    }
    assert len(out.changes) == 5
    assert out.device == device(
        version=4,
        updated_at=NOW,
        model="Latitude 7440",
        notes=None,
        custom_fields={"cost_center": "HR", "tag": "x"},
    )


def test_an_update_that_changes_nothing_is_unchanged() -> None:
    before = device(model="Latitude 7440", custom_fields={"cost_center": "IT"})
    out = decide_update(
        Ledger.of("acme", [before]), update(model="Latitude 7440", custom_fields={"cost_center": "IT"}), NOW
    )
    assert out == Unchanged(before)


def test_clearing_a_custom_field_that_is_not_set_changes_nothing() -> None:
    before = device(custom_fields={"cost_center": "IT"})
    out = decide_update(Ledger.of("acme", [before]), update(custom_fields={"room": None}), NOW)
    assert out == Unchanged(before)


def test_only_custom_fields_changed_still_bumps_the_version() -> None:
    before = device(custom_fields={"cost_center": "IT"})
    out = decide_update(Ledger.of("acme", [before]), update(custom_fields={"cost_center": "HR"}), NOW)
    assert isinstance(out, Updated)
    assert (out.device.version, out.device.updated_at, out.device.custom_fields) == (
        4,
        NOW,
        {"cost_center": "HR"},
    )


# --- decide_delete ---------------------------------------------------------------------------------


def test_deleting_an_unknown_device_is_rejected_with_its_id() -> None:
    cmd = DeleteDevice(event_id=CMD, tenant_id="acme", device_id=DEV)
    assert decide_delete(Ledger.of("acme", []), cmd) == Rejected(CMD, DEV, "not_found", "no such device")


@pytest.mark.rule("R-S6")
def test_deleting_a_bound_device_is_refused_with_the_binding_named() -> None:
    cmd = DeleteDevice(event_id=CMD, tenant_id="acme", device_id=DEV)
    out = decide_delete(Ledger.of("acme", [bound()]), cmd)
    assert out == Rejected(
        CMD,
        DEV,
        "device_bound",
        "device is bound to intune device m-77; bound devices cannot be deleted by hand while the master "
        "link is on",
    )


def test_a_manual_device_is_deleted_with_manual_provenance() -> None:
    before = device(asset_number="A-1")
    cmd = DeleteDevice(event_id=CMD, tenant_id="acme", device_id=DEV)
    assert decide_delete(Ledger.of("acme", [before]), cmd) == Deleted(before, manual_provenance())


# --- decide_create ---------------------------------------------------------------------------------


def create(device_id: uuid.UUID = DEV, **fields: object) -> CreateDevice:
    return CreateDevice(
        event_id=CMD, tenant_id="acme", device_id=device_id, fields=DeviceFieldsInput(**fields)
    )  # type: ignore[arg-type]


def test_creating_an_existing_device_id_is_rejected() -> None:
    out = decide_create(Ledger.of("acme", [device()]), create(model="X"), NOW)
    assert out == Rejected(CMD, DEV, "already_exists", "device id already exists")


def test_creating_with_a_taken_asset_number_is_rejected_verbatim() -> None:
    out = decide_create(
        Ledger.of("acme", [device(OTHER, asset_number="A-1")]), create(asset_number="A-1"), NOW
    )
    assert out == Rejected(CMD, DEV, "asset_number_taken", "asset number 'A-1' belongs to another device")


def test_a_created_device_lists_every_field_it_set_and_drops_empty_custom_fields() -> None:
    out = decide_create(
        Ledger.of("acme", []),
        create(
            asset_number=" A-9 ",
            model="ThinkPad",
            notes=" ",
            custom_fields={"cost_center": "IT", "room": None},
        ),
        NOW,
    )
    assert isinstance(out, Created)
    assert out.provenance == manual_provenance()
    assert out.device == device(
        version=1,
        created_at=NOW,
        updated_at=NOW,
        asset_number="A-9",
        model="ThinkPad",
        custom_fields={"cost_center": "IT"},
    )
    assert out.changes == (  # in the order of EDITABLE_FIELDS, then the custom fields
        FieldChange(field="model", before=None, after="ThinkPad", rule="manual"),
        FieldChange(field="asset_number", before=None, after="A-9", rule="manual"),
        FieldChange(field="custom_fields.cost_center", before=None, after="IT", rule="manual"),
    )


# --- Ledger.fork (dry runs plan on a copy) ---------------------------------------------------------


def test_a_fork_starts_equal_and_its_changes_never_reach_the_ledger() -> None:
    ledger = Ledger.of(
        "acme", [bound(asset_number="A-1", serial_number="SN-1"), device(OTHER, serial_number="SN-2")]
    )
    ledger.ignored.add(("int-intune-1", "m-9"))
    ledger.former[("int-intune-1", "m-8")] = OTHER
    fork = ledger.fork()
    assert fork == ledger and fork.tenant_id == "acme"

    apply(fork, Deleted(ledger.devices[DEV], manual_provenance()))
    fork.put(device(OTHER, serial_number="SN-3", asset_number="A-1"))
    fork.ignored.add(("int-intune-1", "m-10"))
    fork.former[("int-intune-1", "m-11")] = DEV

    assert set(ledger.devices) == {DEV, OTHER}
    assert ledger.by_binding == {("int-intune-1", "m-77"): DEV}
    assert dict(ledger.by_serial) == {"SN-1": {DEV}, "SN-2": {OTHER}}
    assert dict(ledger.by_asset) == {"A-1": {DEV}}
    assert ledger.ignored == {("int-intune-1", "m-9")}
    assert ledger.former == {("int-intune-1", "m-8"): OTHER}
    assert fork.by_binding == {} and fork.by_serial["SN-3"] == {OTHER} and fork.by_asset["A-1"] == {OTHER}


# --- decide_unlink (R-S4 keep, R-S5 delete) --------------------------------------------------------

LINK = MasterLinkSettings(master_link_id="ml-1", integration_id="int-intune-1", mdm_kind="intune")
RUN = uuid.UUID("00000000-0000-4000-8000-0000000000a1")


def unlink(keep: bool) -> UnlinkMasterLink:
    return UnlinkMasterLink(
        event_id=CMD,
        tenant_id="acme",
        master_link_id="ml-1",
        integration_id="int-intune-1",
        keep_devices=keep,
    )


@pytest.mark.rule("R-S4")
def test_unlink_keep_makes_a_missing_bound_device_manual_and_lists_each_removed_value() -> None:
    before = device(
        source="intune",
        binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-77"),
        mdm=MdmOnlyFields(device_name="PC-77", disk_capacity_gb=256),
        missing_from_mdm=True,
        last_seen_at=T0,
        model="Latitude 7440",
    )
    out = decide_unlink(before, unlink(keep=True), NOW)
    assert isinstance(out, Updated)
    assert out.provenance == Provenance(actor="unlink", integration_id="int-intune-1", command_id=CMD)
    assert out.changes == (
        FieldChange(field="source", before="intune", after="manual", rule="unlink"),
        FieldChange(field="binding", before="m-77", after=None, rule="unlink"),
        FieldChange(field="mdm.device_name", before="PC-77", after=None, rule="unlink"),
        FieldChange(field="mdm.disk_capacity_gb", before=256, after=None, rule="unlink"),
        FieldChange(field="missing_from_mdm", before=True, after=False, rule="unlink"),
    )
    assert out.device == device(version=4, updated_at=NOW, model="Latitude 7440")


def test_unlink_keep_of_a_device_without_mdm_fields_lists_source_and_binding_only() -> None:
    before = device(
        source="intune",
        binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-5"),
    )
    out = decide_unlink(before, unlink(keep=True), NOW)
    assert isinstance(out, Updated)
    assert [c.field for c in out.changes] == ["source", "binding"]


@pytest.mark.rule("R-S5")
def test_unlink_delete_deletes_with_unlink_provenance() -> None:
    before = bound()
    assert decide_unlink(before, unlink(keep=False), NOW) == Deleted(
        before, Provenance(actor="unlink", integration_id="int-intune-1", command_id=CMD)
    )


# --- re-enrollment at the end of a run (_rebind) ---------------------------------------------------


def observed(mdm_id: str, **fields: object) -> ObservedDevice:
    return ObservedDevice(mdm_device_id=mdm_id, uuid=mdm_id, **fields)  # type: ignore[arg-type]


def test_a_dry_run_plans_only_the_move_of_the_binding() -> None:
    before = bound(serial_number="SN-1")
    ledger = Ledger.of("acme", [before])
    end = RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),))
    out = decide_run_end(ledger, LINK, RUN, end, NOW, partial=None, dry_run=True)
    ((moved, conflict),) = out.reenrolled
    assert moved.before == before
    assert conflict is None and out.missing == () and out.unseen == 0
    assert moved.changes == (FieldChange(field="binding", before="m-77", after="m-new", rule="binding"),)
    assert moved.provenance == Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=RUN)
    assert moved.device.binding == Binding(
        integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-new"
    )
    assert (moved.device.version, moved.device.updated_at, moved.device.serial_number) == (4, NOW, "SN-1")
    assert ledger.bound_to("int-intune-1", "m-new") == moved.device  # applied to the (forked) ledger


def test_a_reenrollment_takes_the_conflicts_snapshot_and_closes_it() -> None:
    ledger = Ledger.of("acme", [bound(serial_number="SN-1", os="Windows (10.0.1)")])
    seen = datetime(2026, 11, 28, 6, tzinfo=UTC)
    record = ConflictRecord(
        conflict_id=uuid.UUID("00000000-0000-4000-8000-0000000000f1"),
        tenant_id="acme",
        link=LINK,
        sync_run_id=RUN,
        rule="bound_to_other_mdm_device",
        candidates=(DEV,),
        observed=observed("m-new", serial_number="SN-1", os="Windows (10.0.2)"),
        message="m",
        first_seen_at=seen,
        last_seen_at=seen,
    )
    ledger.put_conflict(record)
    out = decide_run_end(
        ledger, LINK, RUN, RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),)), NOW, partial=None
    )
    ((moved, closed),) = out.reenrolled
    assert closed == record.close("auto_reenrolled", DEV, None, NOW)
    assert moved.device.os == "Windows (10.0.2)" and moved.device.last_seen_at == seen
    assert moved.device.binding is not None and moved.device.binding.mdm_device_id == "m-new"
    assert out.missing == ()


@pytest.mark.rule("R-M10")
def test_run_end_marks_an_unseen_device_missing_with_when_it_was_last_reported() -> None:
    ledger = Ledger.of("acme", [bound(last_seen_at=T0)])
    reported = datetime(2026, 11, 20, 6, tzinfo=UTC)
    out = decide_run_end(
        ledger, LINK, RUN, RunEnd(unseen=(DEV,), last_seen={"m-77": reported}), NOW, partial=None
    )
    (marked,) = out.missing
    assert out.unseen == 1
    assert marked.changes == (
        FieldChange(field="missing_from_mdm", before=False, after=True, rule="mdm_only"),
    )
    assert (marked.device.missing_from_mdm, marked.device.last_seen_at) == (True, reported)
    assert (marked.device.version, marked.device.updated_at) == (4, NOW)


# --- decide_import (R-C2) --------------------------------------------------------------------------

IMPORT = uuid.UUID("00000000-0000-4000-8000-0000000000b1")


def import_of(*rows: ImportRow) -> ImportDevices:
    return ImportDevices(event_id=CMD, tenant_id="acme", import_id=IMPORT, rows=rows)


def row(n: int, device_id: uuid.UUID | None = None, **fields: object) -> ImportRow:
    return ImportRow(row=n, device_id=device_id, fields=DeviceFieldsInput(**fields))  # type: ignore[arg-type]


@pytest.mark.rule("R-C2")
def test_an_import_with_bad_rows_is_rejected_whole_with_each_row_named() -> None:
    ledger = Ledger.of("acme", [device(asset_number="A-1"), device(OTHER, asset_number="A-2")])
    command = import_of(
        row(2, DEV, model="X"),
        row(3, DEV, model="Y"),
        row(4, uuid.UUID(int=9), model="Z"),
        row(5, asset_number=" a-2 "),
    )
    out = decide_import(ledger, command, NOW)
    assert out == Rejected(
        CMD,
        None,
        "import_invalid",
        f"row 3: device {DEV} is also on row 2; "
        "row 4: no device 00000000-0000-0000-0000-000000000009; "
        f"row 5: asset number 'a-2' belongs to device {OTHER}",
    )


def test_an_import_names_at_most_twenty_errors_and_counts_the_rest() -> None:
    command = import_of(*(row(n, uuid.UUID(int=n), model="X") for n in range(2, 25)))
    out = decide_import(Ledger.of("acme", []), command, NOW)
    assert isinstance(out, Rejected)
    assert out.message.count("no device") == 20
    assert out.message.startswith("row 2: no device 00000000-0000-0000-0000-000000000002; row 3:")
    assert out.message.endswith("row 21: no device 00000000-0000-0000-0000-000000000015 (+3 more)")


def test_an_import_whose_rows_share_an_asset_number_names_the_rows() -> None:
    command = import_of(row(2, asset_number="N-1"), row(3, model="M"), row(4, asset_number=" n-1"))
    out = decide_import(Ledger.of("acme", []), command, NOW)
    assert out == Rejected(
        CMD, None, "import_invalid", "rows 2, 4: asset number 'N-1' appears more than once"
    )


def test_an_import_that_swaps_two_asset_numbers_is_valid() -> None:
    ledger = Ledger.of("acme", [device(asset_number="A-1"), device(OTHER, asset_number="A-2")])
    out = decide_import(
        ledger, import_of(row(2, DEV, asset_number="A-2"), row(3, OTHER, asset_number="A-1")), NOW
    )
    assert isinstance(out, ImportDecision)
    assert (out.created, out.updated, out.unchanged) == (0, 2, 0)


def test_a_row_for_a_device_the_import_already_created_is_refused() -> None:
    command = import_of(row(2, model="X"))
    existing = device(command.created_device_id(2))
    out = decide_import(Ledger.of("acme", [existing]), command, NOW)
    assert out == Rejected(
        CMD, None, "import_invalid", f"row 2: already imported (device {command.created_device_id(2)} exists)"
    )


def test_import_changes_carry_the_csv_rule_and_custom_columns_merge() -> None:
    before = device(model="Old", custom_fields={"cost_center": "IT", "room": "3F", "keep": "k"})
    command = import_of(
        row(2, DEV, model=" New ", notes=" ", custom_fields={"cost_center": "HR", "room": " ", "tag": "t"}),
        row(3, asset_number="C-1", custom_fields={"cost_center": "IT", "room": None}),
    )
    out = decide_import(Ledger.of("acme", [before]), command, NOW)
    assert isinstance(out, ImportDecision)
    updated, created = out.outcomes
    assert isinstance(updated, Updated) and isinstance(created, Created)
    provenance = Provenance(actor="csv", command_id=CMD)
    assert updated.provenance == created.provenance == provenance
    assert updated.changes == (
        FieldChange(field="model", before="Old", after="New", rule="csv"),
        FieldChange(field="custom_fields.cost_center", before="IT", after="HR", rule="csv"),
        FieldChange(field="custom_fields.room", before="3F", after=None, rule="csv"),
        FieldChange(field="custom_fields.tag", before=None, after="t", rule="csv"),
    )
    assert updated.device == device(
        version=4, updated_at=NOW, model="New", custom_fields={"cost_center": "HR", "keep": "k", "tag": "t"}
    )
    assert created.changes == (
        FieldChange(field="asset_number", before=None, after="C-1", rule="csv"),
        FieldChange(field="custom_fields.cost_center", before=None, after="IT", rule="csv"),
    )
    assert created.device == device(
        command.created_device_id(3),
        version=1,
        created_at=NOW,
        updated_at=NOW,
        asset_number="C-1",
        custom_fields={"cost_center": "IT"},
    )


def test_an_import_row_that_changes_nothing_is_counted_unchanged() -> None:
    before = device(model="Same", custom_fields={"cost_center": "IT"})
    out = decide_import(Ledger.of("acme", [before]), import_of(row(2, DEV, model="Same")), NOW)
    assert out == ImportDecision((), 1)


# --- field precedence details ----------------------------------------------------------------------


def test_an_empty_string_in_the_ledger_is_empty_for_ledger_first() -> None:
    assert resolve_field("ledger_first", "", "Dell Inc.") == "Dell Inc."
    assert resolve_field("ledger_first", "HP", "Dell Inc.") == "HP"


def test_an_unreported_mdm_first_value_erases_unless_asked_to_keep() -> None:
    assert resolve_field("mdm_first", "alice@example.com", None) is None
    assert resolve_field("mdm_first", "Windows (10)", None, keep_when_unreported=True) == "Windows (10)"
    assert resolve_field("ledger_first", None, None, keep_when_unreported=True) is None


@pytest.mark.rule("R-I2")
def test_a_sync_keeps_the_ledger_os_when_the_mdm_names_none_but_erases_the_user() -> None:
    ledger = Ledger.of("acme", [bound(os="Windows (10.0.1)", assigned_user="alice@example.com")])
    out = decide_observation(ledger, LINK, RUN, observed("m-77", os="(10.0.2)"), NOW, OTHER)
    assert isinstance(out, Updated)
    assert out.device.os == "Windows (10.0.1)"
    assert out.device.assigned_user is None
    assert FieldChange(field="assigned_user", before="alice@example.com", after=None, rule="mdm_first") in (
        out.changes
    )
    assert (out.device.version, out.device.updated_at, out.device.last_seen_at) == (4, NOW, NOW)


@pytest.mark.rule("R-I5", "R-J3")
def test_an_mdm_asset_number_fills_only_an_empty_ledger_asset_number_and_stays_unique() -> None:
    taken = device(OTHER, asset_number="m-77")
    with_number = Ledger.of("acme", [bound(asset_number="KEEP-1"), taken])
    out = decide_observation(with_number, LINK, RUN, observed("m-77"), NOW, uuid.uuid4())
    assert isinstance(out, Updated)  # the MDM-only block changed; the asset number did not
    assert out.device.asset_number == "KEEP-1"
    assert [c.field for c in out.changes] == ["mdm.device_name", "mdm.mdm_device_id"]
    empty = Ledger.of("acme", [bound(), taken])
    out = decide_observation(empty, LINK, RUN, observed("m-77"), NOW, uuid.uuid4())
    assert isinstance(out, Updated)
    assert out.device.asset_number == "SYSm-77"
    assert FieldChange(field="asset_number", before=None, after="SYSm-77", rule="ledger_first") in out.changes


REBOUND_TEXT = "re-bound: former binding remembered, R-S7"


@pytest.mark.rule("R-S7")
def test_a_rebound_device_says_so_in_its_history() -> None:
    kept = device(serial_number="SN-1")
    ledger = Ledger.of("acme", [kept])
    ledger.former[("int-intune-1", "m-77")] = DEV
    out = decide_observation(ledger, LINK, RUN, observed("m-77", serial_number="SN-1"), NOW, OTHER)
    assert isinstance(out, Updated)
    assert out.changes == (
        FieldChange(field="asset_number", before=None, after="m-77", rule="ledger_first"),
        FieldChange(field="mdm.mdm_device_id", before=None, after="m-77", rule="mdm_only"),
        FieldChange(field="binding", before=None, after="m-77", rule="binding"),
        FieldChange(field="rebound", before=None, after=REBOUND_TEXT, rule="binding"),
        FieldChange(field="source", before="manual", after="intune", rule="binding"),
    )
    plain = decide_observation(
        Ledger.of("acme", [device(serial_number="SN-1")]),
        LINK,
        RUN,
        observed("m-77", serial_number="SN-1"),
        NOW,
        OTHER,
    )
    assert isinstance(plain, Updated)
    assert [c.field for c in plain.changes if c.field == "rebound"] == []


# --- the end of a run ------------------------------------------------------------------------------


@pytest.mark.rule("R-M14")
def test_each_partial_run_reason_is_spelled_out() -> None:
    assert partial_reason(seen=5, seen_records=5, skipped=0, errors=0) is None
    assert partial_reason(seen=5, seen_records=5, skipped=2, errors=1) == (
        "partial run: the connector skipped 2 records without a usable id, so no device can be known to be "
        "gone (R-M14)"
    )
    assert partial_reason(seen=5, seen_records=5, skipped=0, errors=3) == (
        "partial run: 3 device records were not processed (dead-lettered)"
    )
    assert partial_reason(seen=5, seen_records=5, skipped=0, errors=0, reported_total=7) == (
        "partial run: the MDM reported 7 devices, the run saw 5 and skipped 0 (R-M14)"
    )
    assert partial_reason(seen=7, seen_records=7, skipped=0, errors=0, reported_total=7) is None
    assert partial_reason(seen=5, seen_records=4, skipped=0, errors=0) == (
        "partial run: the record of the devices this run saw was lost (database restart)"
    )
    assert partial_reason(seen=5, seen_records=6, skipped=0, errors=0) is None


def test_a_partial_run_end_marks_nothing_and_says_why() -> None:
    ledger = Ledger.of("acme", [bound()])
    out = decide_run_end(ledger, LINK, RUN, RunEnd(unseen=(DEV,)), NOW, partial="partial run: x")
    assert out == RunEndDecision(partial="partial run: x")
    assert ledger.devices[DEV].missing_from_mdm is False


@pytest.mark.rule("R-M10")
def test_run_end_counts_only_this_integrations_devices_and_marks_each_once() -> None:
    other_int = Binding(integration_id="int-jamf-1", mdm_kind="jamf_pro", mdm_device_id="computer:1")
    third = uuid.UUID("00000000-0000-4000-8000-000000000003")
    fourth = uuid.UUID("00000000-0000-4000-8000-000000000004")
    ledger = Ledger.of(
        "acme",
        [
            bound(DEV, missing_from_mdm=True),  # already missing: counted, not marked again
            device(OTHER, source="jamf_pro", binding=other_int),  # another integration's device
            device(third),  # unbound
            bound(fourth, last_seen_at=T0).model_copy(
                update={
                    "binding": Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-4")
                }
            ),
        ],
    )
    unseen = (DEV, OTHER, third, fourth, uuid.UUID(int=99))
    out = decide_run_end(ledger, LINK, RUN, RunEnd(unseen=unseen), NOW, partial=None)
    assert out.unseen == 2
    (marked,) = out.missing
    assert marked.before.device_id == fourth
    assert marked.provenance == Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=RUN)
    assert marked.device.last_seen_at == T0  # not reported by a kept run: when it was last seen
    assert ledger.devices[fourth].missing_from_mdm is True  # applied, so a later step sees it


# --- conflicts (R-M9) ------------------------------------------------------------------------------

CONFLICT = uuid.UUID("00000000-0000-4000-8000-0000000000f1")
SEEN = datetime(2026, 11, 28, 6, tzinfo=UTC)


def record(**changes: object) -> ConflictRecord:
    base = ConflictRecord(
        conflict_id=CONFLICT,
        tenant_id="acme",
        link=LINK,
        sync_run_id=RUN,
        rule="ambiguous_match",
        candidates=(DEV, OTHER),
        observed=observed("m-5", serial_number="SN-5", model="Latitude 7440"),
        message="serial_number 'SN-5' matches 2 ledger devices by serial_number",
        first_seen_at=SEEN,
        last_seen_at=SEEN,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def resolve(resolution: str, device_id: uuid.UUID | None = None) -> ResolveConflict:
    return ResolveConflict(
        event_id=CMD,
        tenant_id="acme",
        conflict_id=CONFLICT,
        resolution=resolution,
        device_id=device_id,  # type: ignore[arg-type]
    )


def conflicted(*devices: LedgerDevice, conflict: ConflictRecord | None = None) -> Ledger:
    ledger = Ledger.of("acme", devices or [device(serial_number="SN-5"), device(OTHER, serial_number="SN-5")])
    ledger.put_conflict(conflict or record())
    return ledger


def test_resolving_an_unknown_conflict_is_rejected() -> None:
    out = decide_resolution(Ledger.of("acme", []), resolve("ignore"), uuid.uuid4(), NOW)
    assert out == Rejected(CMD, None, "conflict_not_found", f"no conflict {CONFLICT}")


def test_resolving_a_closed_conflict_is_rejected_naming_how_it_ended() -> None:
    closed = record().close("ignore", None, CMD, NOW)
    out = decide_resolution(conflicted(conflict=closed), resolve("link", DEV), uuid.uuid4(), NOW)
    assert out == Rejected(CMD, DEV, "conflict_not_open", f"conflict {CONFLICT} was resolved (ignore)")


def test_resolving_a_conflict_whose_mdm_device_is_bound_is_rejected() -> None:
    holder = device(uuid.UUID(int=5)).model_copy(
        update={"binding": Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-5")}
    )
    ledger = conflicted(device(serial_number="SN-5"), device(OTHER, serial_number="SN-5"), holder)
    out = decide_resolution(ledger, resolve("create"), uuid.uuid4(), NOW)
    assert out == Rejected(CMD, None, "already_bound", f"MDM device m-5 is bound to {uuid.UUID(int=5)}")


def test_ignoring_closes_the_conflict_and_changes_no_device() -> None:
    out = decide_resolution(conflicted(), resolve("ignore"), uuid.uuid4(), NOW)
    assert out == Resolved(record().close("ignore", None, CMD, NOW), None)


@pytest.mark.rule("R-M9")
def test_create_makes_a_device_from_the_conflicts_snapshot_with_manual_provenance() -> None:
    new = uuid.UUID("00000000-0000-4000-8000-0000000000d1")
    out = decide_resolution(conflicted(), resolve("create"), new, NOW)
    assert isinstance(out, Resolved) and isinstance(out.change, Created)
    assert out.conflict == record().close("create", new, CMD, NOW)
    assert out.change.provenance == Provenance(
        actor="manual", integration_id="int-intune-1", sync_run_id=RUN, command_id=CMD
    )
    created = out.change.device
    assert (created.device_id, created.serial_number, created.model, created.last_seen_at) == (
        new,
        "SN-5",
        "Latitude 7440",
        SEEN,
    )


def test_link_needs_one_of_the_candidates() -> None:
    expected = f"link needs device_id, one of the candidates {[str(DEV), str(OTHER)]}"
    assert decide_resolution(conflicted(), resolve("link"), uuid.uuid4(), NOW) == Rejected(
        CMD, None, "not_a_candidate", expected
    )
    stranger = uuid.UUID(int=77)
    assert decide_resolution(conflicted(), resolve("link", stranger), uuid.uuid4(), NOW) == Rejected(
        CMD, stranger, "not_a_candidate", expected
    )


def test_link_to_a_candidate_that_is_gone_is_rejected() -> None:
    out = decide_resolution(
        conflicted(device(OTHER, serial_number="SN-5")), resolve("link", DEV), uuid.uuid4(), NOW
    )
    assert out == Rejected(CMD, DEV, "candidate_not_found", f"candidate {DEV} no longer exists")


@pytest.mark.rule("R-P2")
def test_link_to_a_candidate_of_another_integration_adds_a_binding() -> None:
    jamf = Binding(integration_id="int-jamf-1", mdm_kind="jamf_pro", mdm_device_id="computer:1")
    ledger = conflicted(
        device(serial_number="SN-5", source="jamf_pro", binding=jamf), device(OTHER, serial_number="SN-5")
    )
    out = decide_resolution(ledger, resolve("link", DEV), uuid.uuid4(), NOW)
    assert isinstance(out, Resolved) and isinstance(out.change, Updated)
    assert out.conflict == record().close("link", DEV, CMD, NOW)
    linked = out.change.device
    intune = Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-5")
    # No priority set, neither link heard created: ranked by integration id (R-P1), Intune first
    assert linked.device_id == DEV and linked.binding == intune and linked.source == "intune"
    assert [o.binding for o in linked.other_bindings] == [jamf]
    assert linked.last_seen_at == SEEN and linked.mdm is not None and linked.mdm.mdm_device_id == "m-5"
    assert out.change.provenance.command_id == CMD and out.change.provenance.actor == "manual"
    added = [c for c in out.change.changes if c.field == "bindings"]
    assert [(c.before, c.after, c.rule) for c in added] == [(None, "int-intune-1:m-5", "binding")]


@pytest.mark.rule("R-P2")
def test_link_to_a_shared_candidate_with_a_binding_of_the_same_integration_is_rejected() -> None:
    jamf = Binding(integration_id="int-jamf-1", mdm_kind="jamf_pro", mdm_device_id="computer:1")
    intune = Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-4")
    shared = device(serial_number="SN-5", source="jamf_pro", binding=jamf)
    shared = shared.model_copy(update={"other_bindings": (BoundMdm(binding=intune),)})
    ledger = conflicted(shared, device(OTHER, serial_number="SN-5"))
    out = decide_resolution(ledger, resolve("link", DEV), uuid.uuid4(), NOW)
    assert out == Rejected(
        CMD,
        DEV,
        "candidate_bound_to_same_integration",
        f"device {DEV} is bound to intune device m-4 of integration int-intune-1 already (one MDM "
        "device per integration, R-P2); resolve with create, or ignore",
    )


@pytest.mark.rule("R-M9")
def test_link_binds_the_chosen_candidate_with_the_snapshot_seen_time() -> None:
    out = decide_resolution(conflicted(), resolve("link", OTHER), uuid.uuid4(), NOW)
    assert isinstance(out, Resolved) and isinstance(out.change, Updated)
    assert out.conflict == record().close("link", OTHER, CMD, NOW)
    linked = out.change.device
    assert linked.device_id == OTHER and linked.source == "intune" and linked.last_seen_at == SEEN
    assert linked.binding == Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-5")


def test_a_new_conflict_is_recorded_with_first_and_last_seen_now() -> None:
    conflict = Conflict("ambiguous_match", "int-intune-1", record().observed, (DEV, OTHER), "msg")
    out = track_conflict(Ledger.of("acme", []), conflict, LINK, RUN, CONFLICT, NOW)
    assert out == record(message="msg", first_seen_at=NOW, last_seen_at=NOW)


def test_an_unchanged_conflict_is_no_news_and_a_changed_one_keeps_its_id_and_first_seen() -> None:
    ledger = conflicted()
    same = Conflict("ambiguous_match", "int-intune-1", record().observed, (DEV, OTHER), "another text")
    assert track_conflict(ledger, same, LINK, RUN, uuid.uuid4(), NOW) is None
    run2 = uuid.UUID(int=2)
    fewer = Conflict("bound_to_other_mdm_device", "int-intune-1", record().observed, (DEV,), "new text")
    out = track_conflict(ledger, fewer, LINK, run2, uuid.uuid4(), NOW)
    assert out == record(
        sync_run_id=run2,
        rule="bound_to_other_mdm_device",
        candidates=(DEV,),
        message="new text",
        last_seen_at=NOW,
    )


def test_a_conflict_settled_by_the_sync_says_created_or_linked() -> None:
    ledger = conflicted()
    made = device(uuid.UUID(int=8))
    created = Created(made, (), manual_provenance())
    assert settle_conflict(ledger, "int-intune-1", "m-5", created, NOW) == record().close(
        "create", made.device_id, None, NOW
    )
    updated = Updated(device(), device(), (), manual_provenance())
    assert settle_conflict(ledger, "int-intune-1", "m-5", updated, NOW) == record().close(
        "link", DEV, None, NOW
    )
    assert settle_conflict(ledger, "int-intune-1", "m-6", updated, NOW) is None
    assert settle_conflict(ledger, "int-intune-1", "m-5", Rejected(CMD, None, "x", "y"), NOW) is None


def test_a_closed_record_removes_only_its_own_open_conflict() -> None:
    ledger = conflicted()
    other = record(conflict_id=uuid.UUID(int=3))
    ledger.put_conflict(other.close("ignore", None, CMD, NOW))
    assert ledger.conflicts[("int-intune-1", "m-5")] == record()  # a different conflict id: stays
    ledger.put_conflict(record().close("ignore", None, CMD, NOW))
    assert ledger.conflicts == {}
    assert ledger.conflicts_by_id[CONFLICT].status == "resolved"


def test_closing_a_conflict_records_who_how_and_when() -> None:
    closed = record().close("link", OTHER, CMD, NOW)
    assert (
        closed.status,
        closed.resolution,
        closed.resolved_device_id,
        closed.resolved_by,
        closed.resolved_at,
    ) == (
        "resolved",
        "link",
        OTHER,
        CMD,
        NOW,
    )
    assert (closed.conflict_id, closed.first_seen_at, closed.candidates) == (CONFLICT, SEEN, (DEV, OTHER))


# --- creating from the MDM, re-enrollment guards ---------------------------------------------------


@pytest.mark.rule("R-M3")
def test_a_device_created_by_the_sync_lists_its_source_and_is_seen_now() -> None:
    new = uuid.UUID("00000000-0000-4000-8000-0000000000d2")
    out = decide_observation(
        Ledger.of("acme", []), LINK, RUN, observed("m-9", serial_number="SN-9"), NOW, new
    )
    assert isinstance(out, Created)
    assert out.changes == (
        FieldChange(field="serial_number", before=None, after="SN-9", rule="ledger_first"),
        FieldChange(field="asset_number", before=None, after="m-9", rule="ledger_first"),
        FieldChange(field="source", before=None, after="intune", rule="binding"),
    )
    assert (out.device.device_id, out.device.last_seen_at, out.device.created_at) == (new, NOW, NOW)
    assert out.provenance == Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=RUN)


def reenrolling(*devices: LedgerDevice, candidates: tuple[uuid.UUID, ...] = (DEV,)) -> Ledger:
    ledger = Ledger.of("acme", devices or [bound(serial_number="SN-1")])
    ledger.put_conflict(
        record(rule="bound_to_other_mdm_device", candidates=candidates, observed=observed("m-new"))
    )
    return ledger


def moved(ledger: Ledger, end: RunEnd, *, dry_run: bool = False) -> list[tuple[uuid.UUID, str | None]]:
    out = decide_run_end(ledger, LINK, RUN, end, NOW, partial=None, dry_run=dry_run)
    return [
        (m.device.device_id, m.device.binding.mdm_device_id if m.device.binding else None)
        for m, _ in out.reenrolled
    ]


def test_a_clean_reenrollment_moves_the_binding_and_is_not_counted_missing() -> None:
    ledger = reenrolling()
    out = decide_run_end(
        ledger, LINK, RUN, RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),)), NOW, partial=None
    )
    assert [(m.device.device_id, m.device.binding.mdm_device_id) for m, _ in out.reenrolled] == [
        (DEV, "m-new")
    ]  # type: ignore[union-attr]
    assert (out.missing, out.unseen) == ((), 0)


def test_no_reenrollment_when_the_old_id_was_reported_or_two_new_ids_claim_the_device() -> None:
    assert moved(reenrolling(), RunEnd(unseen=(), reenroll=(("m-new", DEV),))) == []
    two = RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV), ("m-other", DEV)))
    assert moved(reenrolling(), two) == []


def test_no_reenrollment_of_another_integrations_device_or_onto_a_bound_id() -> None:
    jamf = device(
        source="jamf_pro",
        binding=Binding(integration_id="int-jamf-1", mdm_kind="jamf_pro", mdm_device_id="c:1"),
    )
    assert moved(reenrolling(jamf), RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),))) == []
    holder = device(
        OTHER,
        source="intune",
        binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-new"),
    )
    assert moved(reenrolling(bound(), holder), RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),))) == []


def test_no_reenrollment_of_an_ignored_id_or_a_changed_or_resolved_conflict() -> None:
    end = RunEnd(unseen=(DEV,), reenroll=(("m-new", DEV),))
    ignored = reenrolling()
    ignored.ignored.add(("int-intune-1", "m-new"))
    assert moved(ignored, end) == []
    assert moved(reenrolling(candidates=(DEV, OTHER)), end) == []
    resolved = Ledger.of("acme", [bound()])  # no open conflict: a person decided meanwhile
    assert moved(resolved, end) == []
    assert moved(Ledger.of("acme", [bound()]), end, dry_run=True) == [(DEV, "m-new")]  # a dry run keeps none


def test_reenrollments_are_decided_per_device_not_stopped_by_the_first_refusal() -> None:
    third = uuid.UUID("00000000-0000-4000-8000-000000000003")
    ledger = Ledger.of(
        "acme",
        [
            bound(),  # m-77: its new id m-new is claimed twice below -> stays a conflict
            device(
                third,
                source="intune",
                binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="m-3"),
            ),
        ],
    )
    end = RunEnd(unseen=(DEV, third), reenroll=(("m-new", DEV), ("m-x", DEV), ("m-3b", third)))
    assert moved(ledger, end, dry_run=True) == [(third, "m-3b")]


# --- R-M12 ordering verdicts -----------------------------------------------------------------------


def generation(n: int, change: str = "created") -> LinkGeneration:
    return LinkGeneration("acme", "int-intune-1", "ml-1", n, change, T0)  # type: ignore[arg-type]


@pytest.mark.rule("R-M12")
@pytest.mark.parametrize(
    ("current", "run", "verdict"),
    [
        (None, 0, "accept"),
        (generation(3), 0, "accept"),
        (generation(3, "unlinked"), 0, "accept"),
        (None, 1, "park"),
        (generation(3), 4, "park"),
        (generation(3), 3, "accept"),
        (generation(3, "settings_changed"), 3, "accept"),
        (generation(3), 2, "refuse"),
        (generation(3, "unlinked"), 3, "refuse"),
        (generation(3, "unlinked"), 4, "park"),
    ],
)
def test_run_verdicts(current: LinkGeneration | None, run: int, verdict: str) -> None:
    assert run_verdict(current, run) == verdict


@pytest.mark.rule("R-M12")
@pytest.mark.parametrize(
    ("current", "command", "change", "verdict"),
    [
        (None, 1, "created", "apply"),
        (None, 0, "created", "refuse"),
        (generation(3), 4, "unlinked", "apply"),
        (generation(3), 3, "created", "duplicate"),
        (generation(3), 3, "unlinked", "refuse"),
        (generation(3), 2, "created", "refuse"),
    ],
)
def test_command_verdicts(current: LinkGeneration | None, command: int, change: str, verdict: str) -> None:
    assert command_verdict(current, command, change) == verdict  # type: ignore[arg-type]


def test_a_superseded_generation_explains_itself() -> None:
    assert generation(4, "settings_changed").why() == (
        "superseded by generation 4 (settings changed) at 2026-11-01T09:00:00+00:00"
    )
    assert generation(5, "unlinked").removed and not generation(5).removed
    assert generation(5).key == ("acme", "int-intune-1")


def test_every_already_imported_row_is_named_not_only_the_first() -> None:
    command = import_of(row(2, model="X"), row(3, model="Y"))
    ledger = Ledger.of("acme", [device(command.created_device_id(2)), device(command.created_device_id(3))])
    out = decide_import(ledger, command, NOW)
    assert isinstance(out, Rejected)
    assert out.message.count("already imported") == 2


def test_exactly_twenty_errors_are_all_named_with_nothing_more() -> None:
    command = import_of(*(row(n, uuid.UUID(int=n), model="X") for n in range(2, 22)))
    out = decide_import(Ledger.of("acme", []), command, NOW)
    assert isinstance(out, Rejected)
    assert out.message.count("no device") == 20 and "more)" not in out.message


def test_errors_are_ordered_by_the_first_row_they_name() -> None:
    command = import_of(
        row(3, asset_number="D-1"), row(4, uuid.UUID(int=4), model="X"), row(5, asset_number="D-1")
    )
    out = decide_import(Ledger.of("acme", []), command, NOW)
    assert out == Rejected(
        CMD,
        None,
        "import_invalid",
        "rows 3, 5: asset number 'D-1' appears more than once; "
        "row 4: no device 00000000-0000-0000-0000-000000000004",
    )


def test_each_unchanged_row_is_counted() -> None:
    ledger = Ledger.of("acme", [device(model="Same"), device(OTHER, model="Same")])
    out = decide_import(ledger, import_of(row(2, DEV, model="Same"), row(3, OTHER, model="Same")), NOW)
    assert out == ImportDecision((), 2)
