"""Request bodies and response shapes (they document the API in /openapi.json)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ledger_contracts import Binding, MdmOnlyFields, Source


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class OtherBinding(BaseModel):
    binding: Binding
    mdm: MdmOnlyFields | None = None
    missing_from_mdm: bool = False
    last_seen_at: datetime | None = None


class Device(BaseModel):
    device_id: uuid.UUID
    version: int
    source: Source
    asset_number: str | None
    serial_number: str | None
    os: str | None
    manufacturer: str | None
    model: str | None
    assigned_user: str | None
    status: str | None
    notes: str | None
    custom_fields: dict[str, str | None]
    binding: Binding | None
    mdm: MdmOnlyFields | None
    missing_from_mdm: bool
    last_seen_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # R-P2/R-P4 (issue 11): the other MDMs bound to the device (`binding`/`mdm` are the primary's:
    # the highest-priority bound MDM), each with its MDM-only fields and its own missing state.
    other_bindings: list[OtherBinding] = []
    # R-P3: per synced field, the integration whose value it holds (set while several MDMs are bound)
    field_origins: dict[str, str] = {}


class DevicePage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class FieldChangeOut(BaseModel):
    field: str
    before: Any
    after: Any
    rule: str
    origin_integration_id: str | None = None  # R-P3: the MDM that gave the value


class ProvenanceOut(BaseModel):
    actor: str
    integration_id: str | None
    sync_run_id: uuid.UUID | None
    command_id: uuid.UUID | None


class HistoryEntry(BaseModel):
    event_id: uuid.UUID
    version: int
    change: Literal["created", "updated", "deleted", "source_changed"]
    changes: list[FieldChangeOut]
    provenance: ProvenanceOut
    previous_source: Source | None
    occurred_at: datetime


class HistoryPage(BaseModel):
    items: list[HistoryEntry]
    next_cursor: str | None


class CommandAccepted(BaseModel):
    """The command was published but its change was not projected within the wait."""

    status: Literal["accepted"]
    command_id: uuid.UUID
    device_id: uuid.UUID


class SyncCounts(BaseModel):
    seen: int
    created: int
    updated: int
    unchanged: int
    conflicts: int
    missing: int
    errors: int
    skipped: int = Field(description="R-M14: records the connector could not read (no usable id)")
    warnings: int = Field(description="R-M14: devices kept with one or more fields emptied")


class SyncRun(BaseModel):
    sync_run_id: uuid.UUID
    master_link_id: str
    integration_id: str
    status: Literal["requested", "running", "completed", "failed", "refused"] = Field(
        description="`refused` (R-M12): the run belonged to a removed or superseded master-link "
        "generation; it bound, unbound and deleted nothing; `error` says why. Never shown as failed."
    )
    generation: int = Field(description="R-M12: the master-link generation the run belonged to (0 = legacy)")
    trigger: str | None
    dry_run: bool
    counts: SyncCounts
    reported_total: int | None
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None


class SyncRunIssue(BaseModel):
    """R-M14: what the MDM sent wrong in one record (never a secret)."""

    kind: Literal["warning", "skipped"] = Field(
        description="`warning`: one field emptied, the device kept; `skipped`: a record without a usable id"
    )
    mdm_device_id: str | None
    field: str | None = Field(description="the MDM's field name, e.g. enrolledDateTime")
    reason: str


class SyncRunDetail(SyncRun):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "sync_run_id": "5b1f3f2e-8a44-4a4e-9b1e-2f7f0c3d9a10",
                    "master_link_id": "ml-intune-1",
                    "integration_id": "int-intune-1",
                    "status": "completed",
                    "generation": 2,
                    "trigger": "manual",
                    "dry_run": False,
                    "counts": {
                        "seen": 1999,
                        "created": 0,
                        "updated": 3,
                        "unchanged": 1996,
                        "conflicts": 0,
                        "missing": 0,
                        "errors": 0,
                        "skipped": 1,
                        "warnings": 1,
                    },
                    "reported_total": 2000,
                    "requested_at": "2026-11-29T06:00:00Z",
                    "started_at": "2026-11-29T06:00:01Z",
                    "finished_at": "2026-11-29T06:00:09Z",
                    "duration_seconds": 8.0,
                    "error": None,
                    "issues": [
                        {
                            "kind": "warning",
                            "mdm_device_id": "8c1d6a4e-0d1f-4f8e-a0a5-5b2b1c9e7d11",
                            "field": "enrolledDateTime",
                            "reason": "not a date-time: '2026-13-45'",
                        },
                        {
                            "kind": "skipped",
                            "mdm_device_id": None,
                            "field": "id",
                            "reason": "record without an id",
                        },
                    ],
                }
            ]
        }
    )
    issues: list[SyncRunIssue] = Field(
        description="R-M14: the run's first 1,000 warnings and skipped records, in the order reported"
    )


class SyncRunPage(BaseModel):
    items: list[SyncRun]
    next_cursor: str | None


class SyncNow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
