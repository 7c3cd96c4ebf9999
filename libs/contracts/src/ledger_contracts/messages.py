"""The messages of each topic (SPEC §9), as discriminated unions on `type`."""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal

from pydantic import Field, SerializerFunctionWrapHandler, model_serializer

from .base import Contract, Event, UtcDatetime
from .devices import LedgerDevice, MasterLinkSettings, ObservedDevice, Source

# --- mdm.sync-requests.v1: ledger-api (schedule, "sync now") -> connectors -------------------


class EncryptedCredentials(Contract):
    """An integration's connection settings (the JSON of one integrations-file entry), encrypted
    with Fernet under a key that only the ledger API and the connectors hold: connectors get what
    they need without reading the ledger's database, and the broker never sees a secret."""

    key_id: str = "default"
    ciphertext: str = Field(min_length=1)


class SyncRequested(Event):
    type: Literal["sync_requested"] = "sync_requested"
    sync_run_id: uuid.UUID
    master_link: MasterLinkSettings
    trigger: Literal["schedule", "manual", "link_created"] = "manual"
    dry_run: bool = False
    credentials: EncryptedCredentials | None = None  # None: the connector's integrations file


SyncRequestMessage = Annotated[SyncRequested, Field(discriminator="type")]

# --- mdm.snapshots.v1: connectors -> reconciler -----------------------------------------------


class RecordIssue(Contract):
    """R-M14: what an MDM sent wrong in one record. A `warning` emptied one field and kept the
    device; `skipped` dropped a record with no usable id. Never holds a secret."""

    kind: Literal["warning", "skipped"]
    mdm_device_id: str | None = None  # None when the record had no usable id
    field: str | None = None  # the MDM's field name (e.g. "enrolledDateTime")
    reason: str = Field(min_length=1, max_length=500)


class SyncRunStarted(Event):
    type: Literal["sync_run_started"] = "sync_run_started"
    sync_run_id: uuid.UUID
    master_link: MasterLinkSettings
    dry_run: bool = False
    # R-M13: a connector killed or stopped mid-pull starts the same run again under a new attempt;
    # the reconciler counts each MDM device of the run once across attempts.
    attempt_id: uuid.UUID | None = None


class DeviceObserved(Event):
    type: Literal["device_observed"] = "device_observed"
    sync_run_id: uuid.UUID
    integration_id: str
    device: ObservedDevice
    attempt_id: uuid.UUID | None = None
    warnings: tuple[RecordIssue, ...] = ()  # R-M14: fields emptied because the MDM sent them malformed


class SyncRunCompleted(Event):
    """Every device of the run has been published before this message (same partition)."""

    type: Literal["sync_run_completed"] = "sync_run_completed"
    sync_run_id: uuid.UUID
    integration_id: str
    devices_observed: int = Field(ge=0)
    reported_total: int | None = None  # what the MDM said it had (@odata.count / totalCount)
    # Records the connector could not translate (malformed): the run is complete for every other
    # device, but R-M10 must not mark a device missing only because its record was unreadable.
    devices_skipped: int = Field(0, ge=0)
    attempt_id: uuid.UUID | None = None
    # R-M14: the skipped records and field warnings of the run (the first 1,000; the counts are
    # exact). Warnings of a device also ride on its `DeviceObserved`.
    skipped: tuple[RecordIssue, ...] = Field((), max_length=1000)
    devices_with_warnings: int = Field(0, ge=0)


class SyncRunFailed(Event):
    """A pull that did not finish. Never followed by a completed message for the same run."""

    type: Literal["sync_run_failed"] = "sync_run_failed"
    sync_run_id: uuid.UUID
    integration_id: str
    devices_observed: int = Field(ge=0)
    error: str  # a human-readable reason; never contains a secret
    attempt_id: uuid.UUID | None = None


SnapshotMessage = Annotated[
    SyncRunStarted | DeviceObserved | SyncRunCompleted | SyncRunFailed,
    Field(discriminator="type"),
]

# --- ledger.commands.v1: ledger-api -> reconciler ----------------------------------------------


class DeviceFieldsInput(Contract):
    """Fields a person sets by hand. Absent keys are left as they are (PATCH semantics)."""

    asset_number: str | None = None
    serial_number: str | None = None
    os: str | None = None
    manufacturer: str | None = None
    model: str | None = None
    assigned_user: str | None = None
    status: str | None = None
    notes: str | None = None
    custom_fields: dict[str, str | None] | None = None

    @model_serializer(mode="wrap")
    def _only_keys_set(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # PATCH semantics survive the wire: a key that was not given is not sent, so the receiver's
        # `model_fields_set` is exactly what the person set (an explicit null clears a field).
        data = handler(self)
        return {k: v for k, v in data.items() if k in self.model_fields_set}


class CreateDevice(Event):
    type: Literal["create_device"] = "create_device"
    device_id: uuid.UUID
    fields: DeviceFieldsInput
    actor: str = "api"


class UpdateDevice(Event):
    type: Literal["update_device"] = "update_device"
    device_id: uuid.UUID
    fields: DeviceFieldsInput  # only the keys set explicitly are applied (model_fields_set)
    actor: str = "api"


class DeleteDevice(Event):
    type: Literal["delete_device"] = "delete_device"
    device_id: uuid.UUID
    actor: str = "api"


ConflictResolution = Literal["link", "create", "ignore"]


class ResolveConflict(Event):
    """R-M9: a person decides a conflict. `link` binds the MDM device to `device_id` (one of the
    candidates), `create` makes a new device for it, `ignore` leaves it out of future syncs."""

    type: Literal["resolve_conflict"] = "resolve_conflict"
    conflict_id: uuid.UUID
    resolution: ConflictResolution
    device_id: uuid.UUID | None = None
    actor: str = "api"


class UnlinkMasterLink(Event):
    """R-S4 / R-S5: the master link is removed; its devices are kept as manual or deleted."""

    type: Literal["unlink_master_link"] = "unlink_master_link"
    master_link_id: str
    integration_id: str
    keep_devices: bool
    actor: str = "api"
    generation: int = Field(0, ge=0)  # R-M12: the generation this unlink ends (the link's last + 1)


class MasterLinkChanged(Event):
    """R-M12: a master link was created, or its matching settings were changed (after a planned
    dry run, R-A2). Carries the new generation; sync runs of older generations are then refused,
    runs of this generation that arrive first wait for it."""

    type: Literal["master_link_changed"] = "master_link_changed"
    change: Literal["created", "settings_changed"]
    master_link: MasterLinkSettings
    actor: str = "api"


class ImportRow(Contract):
    """One row of a CSV import (R-C2). `fields` carries only the file's columns (like UpdateDevice,
    only the keys set are applied; null clears)."""

    row: int = Field(ge=2)  # the row's number in the file (header = 1), named in a rejection
    device_id: uuid.UUID | None = None  # the device to update; None creates one
    fields: DeviceFieldsInput


class ImportDevices(Event):
    """R-C2: a whole CSV file of manual data, applied all or nothing in one reconciler transaction.
    The device a row creates gets `created_device_id(row)`: derived from the import, so the same
    import delivered twice cannot create its devices twice, and the API knows the ids up front."""

    type: Literal["import_devices"] = "import_devices"
    import_id: uuid.UUID
    rows: tuple[ImportRow, ...]
    actor: str = "api"

    def created_device_id(self, row: int) -> uuid.UUID:
        return uuid.uuid5(_IMPORT_NAMESPACE, f"{self.import_id}:{row}")


_IMPORT_NAMESPACE = uuid.UUID("3b0d7c1e-9f55-4a8e-8a43-5f1c0e2d9a17")


class SetMdmPriority(Event):
    """R-P1: the tenant's MDM priority — integration ids, highest first, optionally per OS family
    ("apple", "windows", "android"; that order comes before `order` for devices of the family).
    `dry_run`: the reconciler publishes the devices whose fields or source would change as
    `DryRunPlanned(sync_run_id=plan_id)` and applies nothing; otherwise it stores the priority and
    re-derives the devices bound to several MDMs, with history (R-P3)."""

    type: Literal["set_mdm_priority"] = "set_mdm_priority"
    order: tuple[str, ...] = ()
    per_os_family: dict[str, tuple[str, ...]] = Field(default_factory=dict)
    dry_run: bool = False
    plan_id: uuid.UUID
    actor: str = "api"


CommandMessage = Annotated[
    CreateDevice
    | UpdateDevice
    | DeleteDevice
    | ResolveConflict
    | UnlinkMasterLink
    | ImportDevices
    | MasterLinkChanged
    | SetMdmPriority,
    Field(discriminator="type"),
]

# --- ledger.changes.v1: reconciler -> ledger-api and any other service ---------------------------

Rule = Literal["ledger_first", "mdm_first", "mdm_only", "binding", "manual", "csv", "unlink"]


class FieldChange(Contract):
    field: str
    before: Any = None
    after: Any = None
    rule: Rule
    # R-P3: the integration (MDM) whose value this is, when several MDMs are bound to the device.
    origin_integration_id: str | None = None


class Provenance(Contract):
    """R-M11: who or what caused a change."""

    actor: Literal["sync", "manual", "csv", "unlink"]
    integration_id: str | None = None
    sync_run_id: uuid.UUID | None = None
    command_id: uuid.UUID | None = None


class LedgerDeviceChanged(Event):
    """A device was created, updated, deleted or changed source.

    `version` increases by one per change of a device; consumers apply a change only when its
    version is newer than what they hold, which makes redelivery harmless. `device` is the full
    state after the change (None when deleted).
    """

    type: Literal["device_changed"] = "device_changed"
    change: Literal["created", "updated", "deleted", "source_changed"]
    device_id: uuid.UUID
    version: int = Field(ge=1)
    changes: tuple[FieldChange, ...] = ()
    provenance: Provenance
    device: LedgerDevice | None = None
    previous_source: Source | None = None


class SyncRunCounts(Contract):
    seen: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    conflicts: int = 0
    missing: int = 0
    errors: int = 0
    skipped: int = 0  # R-M14: records the connector could not read (no usable id)
    warnings: int = 0  # R-M14: devices kept with one or more fields emptied


class SyncRunSummary(Event):
    """The reconciler's account of one sync run, after every device change of the run."""

    type: Literal["sync_run_summary"] = "sync_run_summary"
    sync_run_id: uuid.UUID
    master_link_id: str
    integration_id: str
    # "refused" (R-M12): the run belonged to a removed or superseded master-link generation; it
    # bound, unbound and deleted nothing; `error` says why.
    status: Literal["running", "completed", "failed", "refused"]
    dry_run: bool = False
    counts: SyncRunCounts = SyncRunCounts()
    reported_total: int | None = None
    started_at: UtcDatetime | None = None
    finished_at: UtcDatetime | None = None
    error: str | None = None
    generation: int = Field(0, ge=0)
    issues: tuple[RecordIssue, ...] = Field((), max_length=1000)  # R-M14: first 1,000 warnings/skips


class ConflictRecorded(Event):
    """R-M9: the sync refused to decide; published when a conflict is new or its content changed."""

    type: Literal["conflict_recorded"] = "conflict_recorded"
    conflict_id: uuid.UUID
    integration_id: str
    mdm_device_id: str
    sync_run_id: uuid.UUID
    rule: str
    candidates: tuple[uuid.UUID, ...]
    observed: ObservedDevice
    message: str


class ConflictResolved(Event):
    """R-M9: a conflict ended. `command_id` is set when a person decided (link/create/ignore);
    without it the sync decided: `link`/`create` when the device later matched cleanly,
    `auto_reenrolled` when its old MDM id left the MDM, `unlinked` when the master link was removed."""

    type: Literal["conflict_resolved"] = "conflict_resolved"
    conflict_id: uuid.UUID
    resolution: Literal["link", "create", "ignore", "auto_reenrolled", "unlinked"]
    device_id: uuid.UUID | None = None
    command_id: uuid.UUID | None = None


class PlannedChange(Contract):
    """One thing a dry run would do."""

    action: Literal["create", "update", "conflict", "mark_missing"]
    mdm_device_id: str | None = None
    device_id: uuid.UUID | None = None
    changes: tuple[FieldChange, ...] = ()
    conflict_rule: str | None = None
    message: str | None = None


class DryRunPlanned(Event):
    """What a dry run would change (one message per consumed batch; SyncRunSummary ends the run)."""

    type: Literal["dry_run_planned"] = "dry_run_planned"
    sync_run_id: uuid.UUID
    items: tuple[PlannedChange, ...]


class CommandRejected(Event):
    """A manual command the reconciler refused (e.g. R-S6: a bound device cannot be deleted)."""

    type: Literal["command_rejected"] = "command_rejected"
    command_id: uuid.UUID
    device_id: uuid.UUID | None = None
    code: str
    message: str


class DevicesImported(Event):
    """R-C2: an `ImportDevices` was applied; published after every device change it made (those
    carry `provenance.command_id` = `command_id`). A refused import is a `CommandRejected` instead."""

    type: Literal["devices_imported"] = "devices_imported"
    import_id: uuid.UUID
    command_id: uuid.UUID
    created: int = Field(ge=0)
    updated: int = Field(ge=0)
    unchanged: int = Field(ge=0)


ChangeMessage = Annotated[
    LedgerDeviceChanged
    | SyncRunSummary
    | CommandRejected
    | ConflictRecorded
    | ConflictResolved
    | DryRunPlanned
    | DevicesImported,
    Field(discriminator="type"),
]
