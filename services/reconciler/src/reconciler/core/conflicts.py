"""R-M9: the life of a conflict — recorded, kept up to date, and resolved by a person or by the sync.

A conflict is news only when it is new or its rule, candidates or snapshot changed: a daily
re-sync of an unresolved conflict publishes nothing. It ends when a person decides (link to a
candidate, create a new device, ignore the MDM device), when the sync later decides cleanly (the
other device went away), on re-enrollment (see lifecycle.py), or when the master link is removed.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime

from ledger_contracts import LedgerDevice, MasterLinkSettings, Provenance, ResolveConflict

from .decide import create_from_mdm, observe_shared, update_from_mdm
from .ledger import Ledger, binding_keys, binding_of
from .outcomes import (
    Conflict,
    ConflictRecord,
    Created,
    Outcome,
    Rejected,
    Resolution,
    Resolved,
    Unchanged,
    Updated,
)


def track_conflict(
    ledger: Ledger,
    conflict: Conflict,
    link: MasterLinkSettings,
    sync_run_id: uuid.UUID,
    new_conflict_id: uuid.UUID,
    now: datetime,
) -> ConflictRecord | None:
    """The conflict as it stands after this observation, or None when nothing about it changed."""
    current = ledger.conflicts.get((conflict.integration_id, conflict.observed.mdm_device_id))
    if current is None:
        return ConflictRecord(
            conflict_id=new_conflict_id,
            tenant_id=ledger.tenant_id,
            link=link,
            sync_run_id=sync_run_id,
            rule=conflict.rule,
            candidates=conflict.candidates,
            observed=conflict.observed,
            message=conflict.message,
            first_seen_at=now,
            last_seen_at=now,
        )
    same = (current.rule, current.candidates, current.observed) == (
        conflict.rule,
        conflict.candidates,
        conflict.observed,
    )
    if same:
        return None
    return replace(
        current,
        link=link,
        sync_run_id=sync_run_id,
        rule=conflict.rule,
        candidates=conflict.candidates,
        observed=conflict.observed,
        message=conflict.message,
        last_seen_at=now,
    )


def settle_conflict(
    ledger: Ledger, integration_id: str, mdm_device_id: str, outcome: Outcome, now: datetime
) -> ConflictRecord | None:
    """An MDM device that conflicted before and is now decided cleanly (say the duplicate it
    collided with was deleted): its open conflict ends with what the sync did."""
    current = ledger.conflicts.get((integration_id, mdm_device_id))
    if current is None or not isinstance(outcome, Created | Updated | Unchanged):
        return None
    resolution: Resolution = "create" if isinstance(outcome, Created) else "link"
    return current.close(resolution, outcome.device.device_id, None, now)


def decide_resolution(
    ledger: Ledger, command: ResolveConflict, new_device_id: uuid.UUID, now: datetime
) -> Resolved | Rejected:
    """A person's decision, applied with the snapshot the conflict holds and the settings of the
    link that recorded it — exactly what the sync would have done had it been allowed to guess."""

    def reject(code: str, message: str) -> Rejected:
        return Rejected(command.event_id, command.device_id, code, message)

    conflict = ledger.conflicts_by_id.get(command.conflict_id)
    if conflict is None:
        return reject("conflict_not_found", f"no conflict {command.conflict_id}")
    if conflict.status != "open":
        return reject(
            "conflict_not_open", f"conflict {conflict.conflict_id} was resolved ({conflict.resolution})"
        )
    if (bound := ledger.bound_to(*conflict.key)) is not None:  # only by a path that missed closing it
        return reject("already_bound", f"MDM device {conflict.mdm_device_id} is bound to {bound.device_id}")
    provenance = Provenance(
        actor="manual",
        integration_id=conflict.integration_id,
        sync_run_id=conflict.sync_run_id,
        command_id=command.event_id,
    )
    seen = conflict.last_seen_at
    if command.resolution == "ignore":
        return Resolved(conflict.close("ignore", None, command.event_id, now), None)
    if command.resolution == "create":
        created = create_from_mdm(
            ledger, conflict.link, conflict.observed, now, provenance, new_device_id, seen_at=seen
        )
        return Resolved(conflict.close("create", created.device.device_id, command.event_id, now), created)
    if command.device_id is None or command.device_id not in conflict.candidates:
        return reject(
            "not_a_candidate",
            f"link needs device_id, one of the candidates {[str(c) for c in conflict.candidates]}",
        )
    target = ledger.devices.get(command.device_id)
    if target is None:
        return reject("candidate_not_found", f"candidate {command.device_id} no longer exists")
    if target.binding is not None and not _bound_only_to(target, conflict.integration_id):
        # R-P2: bound to other integrations: this MDM device becomes one more binding of it, unless
        # the device already has one of this integration (one MDM device per integration).
        if (same := binding_of(target, conflict.integration_id)) is not None:
            return reject(
                "candidate_bound_to_same_integration",
                f"device {target.device_id} is bound to {same.mdm_kind} device {same.mdm_device_id} "
                f"of integration {conflict.integration_id} already (one MDM device per integration, "
                "R-P2); resolve with create, or ignore",
            )
        added = observe_shared(
            ledger, conflict.link, target, conflict.observed, now, provenance, seen_at=seen
        )
        assert isinstance(added, Updated)  # a binding is added, so something always changes
        return Resolved(conflict.close("link", target.device_id, command.event_id, now), added)
    # A candidate bound to another MDM device of the same integration: the binding moves here.
    linked = update_from_mdm(
        ledger, conflict.link, target, conflict.observed, now, provenance, bind=True, seen_at=seen
    )
    assert isinstance(linked, Updated)  # binding changes, so something always changes
    return Resolved(conflict.close("link", target.device_id, command.event_id, now), linked)


def _bound_only_to(device: LedgerDevice, integration_id: str) -> bool:
    """Every binding of the device is to an MDM device of `integration_id`."""
    return all(i == integration_id for i, _ in binding_keys(device))
