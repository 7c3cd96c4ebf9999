"""R-S4 / R-S5: removing a master link, folded in chunks (a link may bind 100,000 devices).

The store hands the devices bound to the integration over a chunk at a time, within the batch's
one transaction; each chunk's effects (state rows, outbox events) are written before the next is
loaded, so memory stays bounded by the chunk size and the whole unlink still commits atomically.
"""

from __future__ import annotations

from ledger_contracts import (
    ConflictResolved,
    LedgerDevice,
    MasterLinkChanged,
    Provenance,
    UnlinkMasterLink,
    topics,
)

from .changes import record_outcome
from .core import (
    ConflictRecord,
    Ledger,
    LinkGeneration,
    MdmPriority,
    Updated,
    binding_of,
    decide_unlink,
    drop_binding,
    reported_by_others,
)
from .model import Effects, RunState, event_id

CHUNK = 5000


def unlink_started(
    command: UnlinkMasterLink,
    running: list[RunState],
    conflicts: list[ConflictRecord],
    prefix: str,
    generation: LinkGeneration | None = None,
) -> Effects:
    """Runs of the integration still streaming are ended (their devices would re-create what the
    unlink removes): refused when the unlink carries a generation (R-M12), failed when it comes from
    a legacy producer; its open conflicts end as `unlinked`, and its ignores are forgotten."""
    if generation is not None:
        fx = supersede_runs(command, running, generation, prefix, every=True)
    else:
        fx = Effects()
        for run in sorted(running, key=lambda r: str(r.sync_run_id)):
            if run.status != "running":
                continue
            run.status, run.finished_at = "failed", command.occurred_at
            run.error = (
                f"the master link was removed while the run was in progress (command {command.event_id})"
            )
            _ended(fx, command, run, prefix)
    topic = topics.named(topics.CHANGES, prefix)
    at = command.occurred_at
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


def _ended(fx: Effects, command: UnlinkMasterLink | MasterLinkChanged, run: RunState, prefix: str) -> None:
    fx.runs[run.sync_run_id] = run
    at = command.occurred_at
    fx.publish(
        topics.named(topics.CHANGES, prefix), run.summary(event_id(command, "summary", run.sync_run_id), at)
    )


def supersede_runs(
    command: UnlinkMasterLink | MasterLinkChanged,
    running: list[RunState],
    current: LinkGeneration,
    prefix: str,
    *,
    every: bool = False,
) -> Effects:
    """R-M12: runs still streaming for an older generation are refused from here on (what they
    applied before stays: it was applied in order); their later records are dropped. `every`: an
    unlink refuses legacy (generation 0) runs too, since nothing may be bound to a removed link."""
    fx = Effects()
    for run in sorted(running, key=lambda r: str(r.sync_run_id)):
        if run.status != "running" or not (every or 0 < run.generation < current.generation):
            continue
        run.status, run.finished_at = "refused", command.occurred_at
        run.error = f"refused: the run is of generation {run.generation}, {current.why()}"
        _ended(fx, command, run, prefix)
    return fx


def unlink_devices(
    command: UnlinkMasterLink, devices: list[LedgerDevice], prefix: str, priority: MdmPriority | None = None
) -> Effects:
    """One chunk: each device kept as manual (R-S4) or deleted (R-S5); a device another MDM still
    reports loses only this binding, its source moving to the next MDM by `priority` (R-P4, R-P1)."""
    fx = Effects()
    topic = topics.named(topics.CHANGES, prefix)
    ledger = Ledger.of(command.tenant_id, devices)
    ledger.priority = priority or MdmPriority()
    for device in sorted(devices, key=lambda d: str(d.device_id)):
        if reported_by_others(device, command.integration_id):
            # R-P4: another MDM still reports it: only this binding goes, the device stays bound
            provenance = Provenance(
                actor="unlink", integration_id=command.integration_id, command_id=command.event_id
            )
            dropped = binding_of(device, command.integration_id)
            shared = drop_binding(ledger, device, command.integration_id, command.occurred_at, provenance)
            record_outcome(shared, command, ledger, fx, topic)
            if dropped is not None:  # R-S7 (keep or delete): a re-link binds it back before any key
                fx.former[(command.tenant_id, command.integration_id, dropped.mdm_device_id)] = (
                    device.device_id
                )
            continue
        outcome = decide_unlink(device, command, command.occurred_at)
        if isinstance(outcome, Updated) and device.binding is not None:  # R-S7: kept, remembered
            fx.former[(command.tenant_id, device.binding.integration_id, device.binding.mdm_device_id)] = (
                device.device_id
            )
        record_outcome(outcome, command, ledger, fx, topic)
    return fx
