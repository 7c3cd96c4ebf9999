"""A decided outcome becomes state rows and `ledger.changes.v1` events (R-E2, R-M11)."""

from __future__ import annotations

from typing import Any

from ledger_contracts import CommandRejected, Event, LedgerDeviceChanged

from .core import Created, Deleted, Ledger, Outcome, Rejected, Updated, apply
from .model import Effects, event_id


def record_outcome(outcome: Outcome, source: Event, ledger: Ledger, fx: Effects, topic: str) -> None:
    """Fold an outcome into the ledger and the effects. Unchanged, conflicts and ignores add nothing
    here (conflicts have their own events)."""
    at = source.occurred_at
    if isinstance(outcome, Created | Updated):
        apply(ledger, outcome)
        device = outcome.device
        fx.upserts[device.device_id] = device
        fx.deletes.discard(device.device_id)
        kind: Any = "created"
        previous = None
        if isinstance(outcome, Updated):
            kind = "source_changed" if outcome.source_changed else "updated"
            previous = outcome.previous_source if outcome.source_changed else None
        fx.publish(
            topic,
            LedgerDeviceChanged(
                event_id=event_id(source, device.device_id, device.version),
                occurred_at=at,
                tenant_id=source.tenant_id,
                change=kind,
                device_id=device.device_id,
                version=device.version,
                changes=outcome.changes,
                provenance=outcome.provenance,
                device=device,
                previous_source=previous,
            ),
        )
    elif isinstance(outcome, Deleted):
        apply(ledger, outcome)
        before = outcome.before
        fx.upserts.pop(before.device_id, None)
        fx.deletes.add(before.device_id)
        fx.publish(
            topic,
            LedgerDeviceChanged(
                event_id=event_id(source, before.device_id, before.version + 1),
                occurred_at=at,
                tenant_id=source.tenant_id,
                change="deleted",
                device_id=before.device_id,
                version=before.version + 1,
                provenance=outcome.provenance,
                previous_source=before.source,
            ),
        )
    elif isinstance(outcome, Rejected):
        fx.publish(
            topic,
            CommandRejected(
                event_id=event_id(source, "rejected"),
                occurred_at=at,
                tenant_id=source.tenant_id,
                command_id=outcome.command_id,
                device_id=outcome.device_id,
                code=outcome.code,
                message=outcome.message,
            ),
        )
