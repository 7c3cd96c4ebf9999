"""R-S4 / R-S5: removing a master link, folded in chunks (a link may bind 100,000 devices).

The store hands the devices bound to the integration over a chunk at a time, within the batch's
one transaction; each chunk's effects (state rows, outbox events) are written before the next is
loaded, so memory stays bounded by the chunk size and the whole unlink still commits atomically.
"""

from __future__ import annotations

from ledger_contracts import ConflictResolved, LedgerDevice, UnlinkMasterLink, topics

from .changes import record_outcome
from .core import ConflictRecord, Ledger, decide_unlink
from .model import Effects, RunState, event_id

CHUNK = 5000


def unlink_started(
    command: UnlinkMasterLink,
    running: list[RunState],
    conflicts: list[ConflictRecord],
    prefix: str,
) -> Effects:
    """Runs of the integration still streaming are failed (their devices would re-create what the
    unlink removes), its open conflicts end as `unlinked`, and its ignores are forgotten."""
    fx = Effects()
    topic = topics.named(topics.CHANGES, prefix)
    at = command.occurred_at
    for run in sorted(running, key=lambda r: str(r.sync_run_id)):
        if run.status != "running":
            continue
        run.status, run.finished_at = "failed", at
        run.error = f"the master link was removed while the run was in progress (command {command.event_id})"
        fx.runs[run.sync_run_id] = run
        fx.publish(topic, run.summary(event_id(command, "summary", run.sync_run_id), at))
    for conflict in sorted(conflicts, key=lambda c: str(c.conflict_id)):
        closed = conflict.close("unlinked", None, command.event_id, at)
        fx.conflicts[closed.conflict_id] = closed
        fx.publish(
            topic,
            ConflictResolved(
                event_id=event_id(command, "resolved", closed.conflict_id),
                occurred_at=at,
                tenant_id=command.tenant_id,
                conflict_id=closed.conflict_id,
                resolution="unlinked",
                command_id=command.event_id,
            ),
        )
    fx.forget_ignored.add((command.tenant_id, command.integration_id))
    return fx


def unlink_devices(command: UnlinkMasterLink, devices: list[LedgerDevice], prefix: str) -> Effects:
    """One chunk: each device kept as manual (R-S4) or deleted (R-S5)."""
    fx = Effects()
    topic = topics.named(topics.CHANGES, prefix)
    ledger = Ledger.of(command.tenant_id, devices)
    for device in sorted(devices, key=lambda d: str(d.device_id)):
        record_outcome(decide_unlink(device, command, command.occurred_at), command, ledger, fx, topic)
    return fx
