"""Projecting the change messages that are not device states: conflicts (R-M9), dry-run plans,
the reconciler's refusals of commands, and import outcomes (R-C2).

Called by `write.project_batch` inside the batch's transaction. Each write is idempotent, and
its result does not depend on how records were cut into batches (a replay cuts them differently):

* a conflict's content is the newest `ConflictRecorded` while it is open; its end is final;
* dry-run items are keyed by (event id, index): a re-published message adds nothing;
* a rejection and an import result are written once per command.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pydantic import TypeAdapter

from ledger_contracts import (
    CommandRejected,
    ConflictRecorded,
    ConflictResolved,
    DevicesImported,
    DryRunPlanned,
    Event,
    FieldChange,
)

if TYPE_CHECKING:
    from .write import Connection

OTHER_MESSAGES = (ConflictRecorded, ConflictResolved, CommandRejected, DryRunPlanned, DevicesImported)


@dataclass(frozen=True, slots=True)
class Positioned:
    """A decoded message and where it was read (dry-run items are ordered by it)."""

    partition: int
    offset: int
    message: Event


_RECORDED = """
INSERT INTO ledger.conflicts AS c (
    conflict_id, tenant_id, status, integration_id, mdm_device_id, sync_run_id, rule, candidates,
    observed, message, recorded_at, updated_at)
VALUES ($1, $2, 'open', $3, $4, $5, $6, $7::uuid[], $8::jsonb, $9, $10, $10)
ON CONFLICT (conflict_id) DO UPDATE SET
    integration_id = excluded.integration_id, mdm_device_id = excluded.mdm_device_id,
    sync_run_id = excluded.sync_run_id, rule = excluded.rule, candidates = excluded.candidates,
    observed = excluded.observed, message = excluded.message,
    recorded_at = least(c.recorded_at, excluded.recorded_at), updated_at = excluded.updated_at
WHERE c.tenant_id = excluded.tenant_id AND (c.updated_at IS NULL OR c.updated_at <= excluded.updated_at)
"""

_RESOLVED = """
INSERT INTO ledger.conflicts AS c (
    conflict_id, tenant_id, status, resolution, resolved_device_id, resolved_by, resolved_at, recorded_at)
VALUES ($1, $2, 'resolved', $3, $4, $5, $6, $6)
ON CONFLICT (conflict_id) DO UPDATE SET
    status = 'resolved', resolution = excluded.resolution, resolved_device_id = excluded.resolved_device_id,
    resolved_by = excluded.resolved_by, resolved_at = excluded.resolved_at
WHERE c.tenant_id = excluded.tenant_id AND c.status = 'open'
"""

_REJECTED = """
INSERT INTO ledger.command_rejections (command_id, tenant_id, device_id, code, message, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6)
ON CONFLICT (command_id) DO NOTHING
"""

_IMPORTED = """
INSERT INTO ledger.import_results (import_id, tenant_id, command_id, created, updated, unchanged, occurred_at)
VALUES ($1, $2, $3, $4, $5, $6, $7)
ON CONFLICT (import_id) DO NOTHING
"""

_PLANNED = """
INSERT INTO ledger.dry_run_items (
    event_id, seq, tenant_id, sync_run_id, kafka_partition, kafka_offset, action, mdm_device_id, device_id,
    changes, conflict_rule, message)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb, $11, $12)
ON CONFLICT (event_id, seq) DO NOTHING
"""

_changes_json = TypeAdapter(tuple[FieldChange, ...]).dump_json


def history_changes(changes: tuple[FieldChange, ...]) -> str:
    """Changes as stored (history, dry-run items): `origin_integration_id` (R-P3, issue 11) only
    where a change has one (a device bound to several MDMs), so other changes are stored as before."""
    if all(c.origin_integration_id is None for c in changes):
        return json.dumps([c.model_dump(mode="json", exclude={"origin_integration_id"}) for c in changes])
    return _changes_json(changes).decode()


async def project_events(conn: Connection, events: Sequence[Positioned]) -> int:
    """Write the batch's non-device messages (in the caller's transaction); returns how many."""
    recorded, resolved, rejected, imported, planned = [], [], [], [], []
    for p in events:
        m = p.message
        if isinstance(m, ConflictRecorded):
            recorded.append(
                (
                    m.conflict_id,
                    m.tenant_id,
                    m.integration_id,
                    m.mdm_device_id,
                    m.sync_run_id,
                    m.rule,
                    list(m.candidates),
                    m.observed.model_dump_json(),
                    m.message,
                    m.occurred_at,
                )
            )
        elif isinstance(m, ConflictResolved):
            resolved.append(
                (m.conflict_id, m.tenant_id, m.resolution, m.device_id, m.command_id, m.occurred_at)
            )
        elif isinstance(m, CommandRejected):
            rejected.append((m.command_id, m.tenant_id, m.device_id, m.code, m.message, m.occurred_at))
        elif isinstance(m, DevicesImported):
            imported.append(
                (m.import_id, m.tenant_id, m.command_id, m.created, m.updated, m.unchanged, m.occurred_at)
            )
        elif isinstance(m, DryRunPlanned):
            planned += [
                (
                    m.event_id,
                    seq,
                    m.tenant_id,
                    m.sync_run_id,
                    p.partition,
                    p.offset,
                    item.action,
                    item.mdm_device_id,
                    item.device_id,
                    history_changes(item.changes),
                    item.conflict_rule,
                    item.message,
                )
                for seq, item in enumerate(m.items)
            ]
    # Recorded before resolved: within one batch a conflict's end lands on its content, and the
    # guards make the result the same whichever batch each message fell into.
    for sql, rows in (
        (_RECORDED, recorded),
        (_RESOLVED, resolved),
        (_REJECTED, rejected),
        (_IMPORTED, imported),
        (_PLANNED, planned),
    ):
        if rows:
            await conn.executemany(sql, rows)
    return len(events)
