"""The end of a run and the end of a master link: re-enrollment, R-M10 missing devices, R-S4/R-S5.

Both re-enrollment and "missing" are decided once a run is complete, over the set of MDM ids it
reported, never while it streams: whether the old MDM id of a device is absent is known only then,
and a decision on the whole set does not depend on the order the devices arrived in.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime

from ledger_contracts import (
    Binding,
    FieldChange,
    LedgerDevice,
    MasterLinkSettings,
    MdmOnlyFields,
    Provenance,
    UnlinkMasterLink,
)

from .decide import apply, update_from_mdm
from .ledger import Ledger, binding_of
from .outcomes import ConflictRecord, Deleted, RunEnd, RunEndDecision, Updated
from .several import is_shared, mark_missing


def partial_reason(
    *, seen: int, seen_records: int, skipped: int, errors: int, reported_total: int | None = None
) -> str | None:
    """Why a completed run cannot vouch that an unreported device is gone (R-M10, R-M14: mark
    nothing). `seen` counts each MDM device of the run once (R-M13). A skipped record has no usable
    id, so any bound device could be the one skipped: with skips nobody is marked."""
    if skipped:
        return (
            f"partial run: the connector skipped {skipped} records without a usable id, "
            "so no device can be known to be gone (R-M14)"
        )
    if errors:
        return f"partial run: {errors} device records were not processed (dead-lettered)"
    if reported_total is not None and seen + skipped < reported_total:
        return (
            f"partial run: the MDM reported {reported_total} devices, the run saw {seen} "
            f"and skipped {skipped} (R-M14)"
        )
    if seen_records < seen:
        return "partial run: the record of the devices this run saw was lost (database restart)"
    return None


def decide_run_end(
    ledger: Ledger,
    link: MasterLinkSettings,
    sync_run_id: uuid.UUID,
    end: RunEnd,
    now: datetime,
    *,
    partial: str | None,
    dry_run: bool = False,
) -> RunEndDecision:
    """After a complete run: re-enrolled devices follow their new MDM id, then every bound device
    of the integration the run did not report is marked missing (never deleted)."""
    if partial is not None:
        return RunEndDecision(partial=partial)
    provenance = Provenance(actor="sync", integration_id=link.integration_id, sync_run_id=sync_run_id)
    unseen = set(end.unseen)
    reenrolled = []
    for device_id, new_id in _reenrollments(ledger, link, end, unseen, dry_run):
        bound = ledger.devices[device_id]
        conflict = ledger.conflicts.get((link.integration_id, new_id))
        moved = _rebind(ledger, link, bound, new_id, conflict, now, provenance)
        apply(ledger, moved)
        reenrolled.append(
            (moved, conflict.close("auto_reenrolled", device_id, None, now) if conflict else None)
        )
        unseen.discard(device_id)
    missing = []
    count = 0
    last_seen = end.last_seen or {}
    for device_id in sorted(unseen):
        device = ledger.devices.get(device_id)
        binding = binding_of(device, link.integration_id) if device is not None else None
        if device is None or binding is None:
            continue
        count += 1
        if is_shared(device):  # R-P4: that binding is missing; the device only when all are
            shared = mark_missing(
                ledger, device, link.integration_id, last_seen.get(binding.mdm_device_id), now, provenance
            )
            if isinstance(shared, Updated):
                missing.append(shared)
                apply(ledger, shared)
            continue
        if device.missing_from_mdm:
            continue
        marked = device.model_copy(
            update={
                "missing_from_mdm": True,
                # When it was last reported: a no-change re-sync does not rewrite every device.
                "last_seen_at": last_seen.get(binding.mdm_device_id, device.last_seen_at),
                "version": device.version + 1,
                "updated_at": now,
            }
        )
        change = FieldChange(field="missing_from_mdm", before=False, after=True, rule="mdm_only")
        missing.append(Updated(device, marked, (change,), provenance))
        apply(ledger, missing[-1])
    return RunEndDecision(tuple(reenrolled), tuple(missing), count)


def _reenrollments(
    ledger: Ledger, link: MasterLinkSettings, end: RunEnd, unseen: set[uuid.UUID], dry_run: bool
) -> list[tuple[uuid.UUID, str]]:
    """Same key, new MDM id, and the old MDM id absent from this complete run. Two new ids for one
    device, or an old id still reported, stay conflicts: a person decides."""
    new_ids: dict[uuid.UUID, set[str]] = defaultdict(set)
    for new_id, device_id in end.reenroll:
        new_ids[device_id].add(new_id)
    out = []
    for device_id, ids in sorted(new_ids.items()):
        device = ledger.devices.get(device_id)
        if device_id not in unseen or len(ids) != 1 or device is None or device.binding is None:
            continue
        if is_shared(device):  # R-P2: several MDMs on the device: a person decides
            continue
        (new_id,) = ids
        if device.binding.integration_id != link.integration_id or ledger.bound_to(
            link.integration_id, new_id
        ):
            continue
        if (link.integration_id, new_id) in ledger.ignored:
            continue
        conflict = ledger.conflicts.get((link.integration_id, new_id))
        if conflict is None and not dry_run:
            continue  # a person resolved it in the meantime
        if conflict is not None and conflict.candidates != (device_id,):
            continue  # the conflict changed since (say, a second candidate): not a clean re-enrollment
        out.append((device_id, new_id))
    return out


def _rebind(
    ledger: Ledger,
    link: MasterLinkSettings,
    device: LedgerDevice,
    new_id: str,
    conflict: ConflictRecord | None,
    now: datetime,
    provenance: Provenance,
) -> Updated:
    """Continuity: the device keeps its id and history; the binding (and, with the snapshot the
    conflict holds, every field by precedence) follows the new MDM id."""
    if conflict is not None:
        moved = update_from_mdm(
            ledger, link, device, conflict.observed, now, provenance, bind=True, seen_at=conflict.last_seen_at
        )
        assert isinstance(moved, Updated)
        return moved
    # A dry run keeps no conflicts: it plans the move of the binding only.
    assert device.binding is not None
    binding = Binding(integration_id=link.integration_id, mdm_kind=link.mdm_kind, mdm_device_id=new_id)
    change = FieldChange(field="binding", before=device.binding.mdm_device_id, after=new_id, rule="binding")
    after = device.model_copy(update={"binding": binding, "version": device.version + 1, "updated_at": now})
    return Updated(device, after, (change,), provenance)


def decide_unlink(device: LedgerDevice, command: UnlinkMasterLink, now: datetime) -> Updated | Deleted:
    """R-S4: the device stays and is from now on a manual one, its MDM-only fields removed;
    R-S5: it is deleted. Bound devices may go here although R-S6 forbids it by hand."""
    provenance = Provenance(
        actor="unlink", integration_id=command.integration_id, command_id=command.event_id
    )
    if not command.keep_devices:
        return Deleted(device, provenance)
    assert device.binding is not None
    changes = [
        FieldChange(field="source", before=device.source, after="manual", rule="unlink"),
        FieldChange(field="binding", before=device.binding.mdm_device_id, after=None, rule="unlink"),
    ]
    mdm = device.mdm or MdmOnlyFields()
    changes += [
        FieldChange(field=f"mdm.{name}", before=value, after=None, rule="unlink")
        for name, value in mdm
        if value is not None
    ]
    if device.missing_from_mdm:
        changes.append(FieldChange(field="missing_from_mdm", before=True, after=False, rule="unlink"))
    after = device.model_copy(
        update={
            "source": "manual",
            "binding": None,
            "mdm": None,
            "missing_from_mdm": False,
            "last_seen_at": None,  # an MDM notion: a manual device is not "seen"
            # R-P4: no other MDM reports it (else `unlink_devices` drops only this binding)
            "other_bindings": (),
            "field_origins": {},
            "reported": {},
            "primary_missing_from_mdm": False,
            "version": device.version + 1,
            "updated_at": now,
        }
    )
    return Updated(device, after, tuple(changes), provenance)
