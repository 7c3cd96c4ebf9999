"""Request bodies and response shapes (they document the API in /openapi.json)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from ledger_contracts import Binding, MdmOnlyFields, Source


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: Any = None


class ErrorBody(BaseModel):
    error: ErrorDetail


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


class DevicePage(BaseModel):
    items: list[dict[str, Any]]
    next_cursor: str | None


class FieldChangeOut(BaseModel):
    field: str
    before: Any
    after: Any
    rule: str


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


class SyncRun(BaseModel):
    sync_run_id: uuid.UUID
    master_link_id: str
    integration_id: str
    status: Literal["requested", "running", "completed", "failed"]
    trigger: str | None
    dry_run: bool
    counts: SyncCounts
    reported_total: int | None
    requested_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_seconds: float | None
    error: str | None


class SyncRunPage(BaseModel):
    items: list[SyncRun]
    next_cursor: str | None


class SyncNow(BaseModel):
    model_config = ConfigDict(extra="forbid")
    dry_run: bool = False
