"""Builders of `ledger.changes.v1` messages for this service's tests and benchmarks (no I/O).

Test code: it lives beside the tests, not in the shipped `ledger_api` package."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from ledger_contracts import (
    Binding,
    FieldChange,
    LedgerDevice,
    LedgerDeviceChanged,
    MdmOnlyFields,
    Provenance,
    SyncRunCounts,
    SyncRunSummary,
)

T0 = datetime(2026, 11, 26, 6, 0, tzinfo=UTC)


def device(
    tenant_id: str,
    device_id: uuid.UUID,
    version: int,
    *,
    bound_to: tuple[str, str] | None = None,
    **fields: Any,
) -> LedgerDevice:
    """A device state; `bound_to=(integration_id, mdm_device_id)` binds it to an MDM device of the
    device's `source` (`intune` or `jamf_pro`; a bound device given no source is an Intune one)."""
    binding = mdm = None
    source = fields.pop("source", "manual")
    if bound_to is not None:
        kind = "intune" if source == "manual" else source
        if kind not in ("intune", "jamf_pro"):
            raise ValueError(f"a bound device's source must be intune or jamf_pro, not {source!r}")
        binding = Binding(integration_id=bound_to[0], mdm_kind=kind, mdm_device_id=bound_to[1])
        common: dict[str, Any] = {
            "device_name": fields.pop("device_name", f"PC-{bound_to[1][:6]}"),
            "mdm_device_id": bound_to[1],
            "disk_capacity_gb": fields.pop("disk_capacity_gb", 256.0),
            "enrolled_at": T0 - timedelta(days=30),
        }
        if kind == "intune":
            mdm = MdmOnlyFields(**common, registration_status="registered")
        else:  # Jamf Pro: ids are "computer:<id>" / "mobile:<id>"
            mdm = MdmOnlyFields(**common, jamf_id=bound_to[1].rsplit(":", 1)[-1], management_status="managed")
        source = kind
    return LedgerDevice(
        device_id=device_id,
        tenant_id=tenant_id,
        version=version,
        source=source,
        binding=binding,
        mdm=mdm,
        created_at=fields.pop("created_at", T0),
        updated_at=fields.pop("updated_at", T0 + timedelta(seconds=version)),
        **fields,
    )


def device_changed(
    tenant_id: str,
    device_id: uuid.UUID,
    version: int,
    *,
    change: Literal["created", "updated", "deleted", "source_changed"] | None = None,
    command_id: uuid.UUID | None = None,
    event_id: uuid.UUID | None = None,
    changes: tuple[FieldChange, ...] | None = None,
    **fields: Any,
) -> LedgerDeviceChanged:
    """A change to `version`; `change` defaults to created for version 1, else updated."""
    change = change or ("created" if version == 1 else "updated")
    state = None if change == "deleted" else device(tenant_id, device_id, version, **fields)
    if changes is None:
        changes = tuple(
            FieldChange(field=k, before=None, after=v, rule="manual" if command_id else "mdm_first")
            for k, v in fields.items()
            if k in ("asset_number", "serial_number", "os", "model", "assigned_user", "status")
        )
    provenance = (
        Provenance(actor="manual", command_id=command_id)
        if command_id
        else Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=uuid.UUID(int=1))
    )
    extra = {"event_id": event_id} if event_id else {}
    return LedgerDeviceChanged(
        tenant_id=tenant_id,
        change=change,
        device_id=device_id,
        version=version,
        changes=changes,
        provenance=provenance,
        device=state,
        occurred_at=T0 + timedelta(seconds=version),
        **extra,
    )


def sync_run_summary(
    tenant_id: str,
    sync_run_id: uuid.UUID,
    status: Literal["running", "completed", "failed"],
    *,
    at: datetime = T0,
    master_link_id: str = "ml-intune-1",
    integration_id: str = "int-intune-1",
    **counts: int,
) -> SyncRunSummary:
    return SyncRunSummary(
        tenant_id=tenant_id,
        sync_run_id=sync_run_id,
        master_link_id=master_link_id,
        integration_id=integration_id,
        status=status,
        counts=SyncRunCounts(**counts),
        reported_total=counts.get("seen"),
        started_at=T0,
        finished_at=at if status != "running" else None,
        occurred_at=at,
        error="pull failed" if status == "failed" else None,
    )
