"""R-P2–R-P4: one ledger device bound to several MDMs (one MDM device per integration).

A device's bindings are its primary `binding` (with `mdm`, `reported`) and its `other_bindings`.
Every function here takes the bindings as a list of `BoundMdm`, changes one of them (an
observation, a run end that did not report it, an unlink), and recomposes the device: the bindings
ranked by the tenant's priority (R-P1), the synced fields re-derived from what each MDM last
reported (R-P3), the primary and `source` = the highest-priority bound MDM, `missing_from_mdm` only
when every binding is missing (R-P4). Pure: no I/O.
"""

from __future__ import annotations

from datetime import datetime

from ledger_contracts import Binding, BoundMdm, FieldChange, LedgerDevice, MdmOnlyFields, Provenance

from .ledger import Ledger
from .outcomes import Unchanged, Updated
from .rules import KEEP_WHEN_UNREPORTED, PRECEDENCE

_MDM_FIELDS = tuple(MdmOnlyFields.model_fields)


def is_shared(device: LedgerDevice) -> bool:
    """More than one MDM is bound to the device."""
    return bool(device.other_bindings)


def bindings_of(device: LedgerDevice) -> list[BoundMdm]:
    """Every binding of the device as a `BoundMdm`, primary first. A device bound to one MDM keeps
    no `reported` copy: its MDM-first fields hold what that MDM reported."""
    if device.binding is None:
        return []
    reported = dict(device.reported) or {
        n: getattr(device, n) for n, p in PRECEDENCE.items() if p == "mdm_first"
    }
    primary = BoundMdm(
        binding=device.binding,
        mdm=device.mdm,
        missing_from_mdm=device.primary_missing_from_mdm
        if device.other_bindings
        else device.missing_from_mdm,
        last_seen_at=device.last_seen_at,
        reported=reported,
    )
    return [primary, *device.other_bindings]


def _origins(device: LedgerDevice) -> dict[str, str]:
    if device.other_bindings:
        return dict(device.field_origins)
    if device.binding is None:
        return {}
    # Bound to one MDM: its MDM-first fields come from it; ledger-first ones are of unknown origin.
    return {
        n: device.binding.integration_id
        for n, p in PRECEDENCE.items()
        if p == "mdm_first" and getattr(device, n) is not None
    }


def recompose(
    ledger: Ledger,
    device: LedgerDevice,
    bindings: list[BoundMdm],
    now: datetime,
    provenance: Provenance,
    *,
    extra: list[FieldChange] | None = None,
    os_hint: str | None = None,
) -> Updated | Unchanged:
    """The device after its bindings became `bindings` (non-empty). `extra`: changes the caller
    already knows (a binding added or removed). Fields change with the rule and the MDM that gave
    the value (R-M11, R-P3)."""
    assert bindings, "recompose needs at least one binding"
    by_id = {b.binding.integration_id: b for b in bindings}
    # R-P1: integrations the priority does not name (never heard linked) by id, never binding order
    order = ledger.priority.ranked(sorted(by_id), device.os or os_hint)
    ranked = [by_id[i] for i in order]
    reporting = [b for b in ranked if not b.missing_from_mdm]
    origins = _origins(device)
    update: dict[str, object] = {}
    changes: list[FieldChange] = list(extra or [])
    for name, precedence in PRECEDENCE.items():
        current = getattr(device, name)
        origin = origins.get(name)
        if precedence == "mdm_first":
            src = next((b for b in reporting if b.reported.get(name) not in (None, "")), None)
            if src is not None:
                new, origin = src.reported[name], src.binding.integration_id
            elif reporting and name not in KEEP_WHEN_UNREPORTED:
                new, origin = None, None  # every reporting MDM says "none" (R-I6)
            else:
                new = current  # nobody reports it (or an OS nobody names, R-I2): kept
        elif current not in (None, ""):
            new = current
        else:  # ledger-first: filled from the first MDM, by priority, that has a value
            src = next((b for b in ranked if b.reported.get(name) not in (None, "")), None)
            new = src.reported[name] if src is not None else None
            if name == "asset_number" and new:
                new = ledger.unique_asset_number(new, device.device_id)
            origin = src.binding.integration_id if src is not None and new is not None else None
        if origin is None:
            origins.pop(name, None)
        else:
            origins[name] = origin
        if new != current:
            update[name] = new
            changes.append(
                FieldChange(
                    field=name, before=current, after=new, rule=precedence, origin_integration_id=origin
                )
            )
    primary, *rest = ranked
    if device.binding is None or device.binding != primary.binding:
        before = device.binding.mdm_device_id if device.binding is not None else None
        changes.append(
            FieldChange(
                field="binding",
                before=before,
                after=primary.binding.mdm_device_id,
                rule="binding",
                origin_integration_id=primary.binding.integration_id,
            )
        )
    if device.source != primary.binding.mdm_kind:
        update["source"] = primary.binding.mdm_kind
        changes.append(
            FieldChange(
                field="source",
                before=device.source,
                after=primary.binding.mdm_kind,
                rule="binding",
                origin_integration_id=primary.binding.integration_id,
            )
        )
    if primary.mdm != device.mdm:
        changes += _mdm_changes(device.mdm, primary.mdm, primary.binding.integration_id)
    missing = all(b.missing_from_mdm for b in ranked)
    if missing != device.missing_from_mdm:
        changes.append(
            FieldChange(
                field="missing_from_mdm", before=device.missing_from_mdm, after=missing, rule="mdm_only"
            )
        )
    old_others = {b.binding.integration_id: b for b in device.other_bindings}
    for b in rest:
        old = old_others.get(b.binding.integration_id)
        if old is not None and old.mdm != b.mdm:
            changes += _mdm_changes(old.mdm, b.mdm, b.binding.integration_id)
    seen = [b.last_seen_at for b in ranked if b.last_seen_at is not None]
    shared = bool(rest)
    update |= {
        "binding": primary.binding,
        "mdm": primary.mdm,
        "missing_from_mdm": missing,
        "other_bindings": tuple(rest),
        "field_origins": origins if shared else {},
        "reported": dict(primary.reported) if shared else {},
        "primary_missing_from_mdm": primary.missing_from_mdm if shared else False,
    }
    candidate = device.model_copy(update=update)
    if candidate == device:
        return Unchanged(device)
    if not changes:  # only a lower-priority MDM's reported values moved: kept, said so
        changes.append(FieldChange(field="reported", before=None, after=None, rule="mdm_only"))
    final = candidate.model_copy(
        update={
            "version": device.version + 1,
            "updated_at": now,
            "last_seen_at": max(seen) if seen else device.last_seen_at,
        }
    )
    return Updated(device, final, tuple(changes), provenance)


def _mdm_changes(before: MdmOnlyFields | None, after: MdmOnlyFields | None, origin: str) -> list[FieldChange]:
    out = []
    for name in _MDM_FIELDS:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name) if after is not None else None
        if old != new:
            out.append(
                FieldChange(
                    field=f"mdm.{name}", before=old, after=new, rule="mdm_only", origin_integration_id=origin
                )
            )
    return out


def observe(
    ledger: Ledger,
    device: LedgerDevice,
    binding: Binding,
    mdm: MdmOnlyFields,
    reported: dict[str, str | None],
    now: datetime,
    provenance: Provenance,
    *,
    keep_empty: bool = False,
    seen_at: datetime | None = None,
    extra: list[FieldChange] | None = None,
) -> Updated | Unchanged:
    """R-P2/R-P3: `binding`'s MDM reported the device (a binding added when it is new). `seen_at`:
    when the MDM reported it, when that is not `now` (a conflict resolved later); `extra`: changes
    the caller adds to the history (R-S7: a remembered binding bound back)."""
    bindings = bindings_of(device)
    extra = list(extra or [])
    old = next((b for b in bindings if b.binding.integration_id == binding.integration_id), None)
    if old is None:
        extra.append(
            FieldChange(
                field="bindings",
                before=None,
                after=f"{binding.integration_id}:{binding.mdm_device_id}",
                rule="binding",
                origin_integration_id=binding.integration_id,
            )
        )
    if keep_empty and old is not None:  # R-M14: an emptied value is unknown, the last one stays
        reported = {k: v if v is not None else old.reported.get(k) for k, v in reported.items()}
        if old.mdm is not None:
            kept = {
                n: v
                for n in _MDM_FIELDS
                if getattr(mdm, n) is None and (v := getattr(old.mdm, n)) is not None
            }
            mdm = mdm.model_copy(update=kept) if kept else mdm
    entry = BoundMdm(
        binding=binding,
        mdm=mdm,
        missing_from_mdm=False,
        last_seen_at=old.last_seen_at if old is not None and not old.missing_from_mdm else seen_at or now,
        reported=reported,
    )
    # In place (the order of the bindings is not the priority: `recompose` ranks them, R-P1)
    placed = [entry if b.binding.integration_id == binding.integration_id else b for b in bindings]
    after = placed if old is not None else [*bindings, entry]
    return recompose(ledger, device, after, now, provenance, extra=extra, os_hint=reported.get("os"))


def mark_missing(
    ledger: Ledger,
    device: LedgerDevice,
    integration_id: str,
    last_seen: datetime | None,
    now: datetime,
    provenance: Provenance,
) -> Updated | Unchanged:
    """R-P4: the MDM of `integration_id` stopped reporting a shared device: that binding is missing;
    the device is missing only when every binding is."""
    bindings = [
        b.model_copy(update={"missing_from_mdm": True, "last_seen_at": last_seen or b.last_seen_at})
        if b.binding.integration_id == integration_id and not b.missing_from_mdm
        else b
        for b in bindings_of(device)
    ]
    return recompose(ledger, device, bindings, now, provenance)


def drop_binding(
    ledger: Ledger, device: LedgerDevice, integration_id: str, now: datetime, provenance: Provenance
) -> Updated | Unchanged:
    """R-P4: unlinking one MDM of a shared device removes its binding; the others keep the device
    (the source moves to the next by priority, its history says so)."""
    bindings = bindings_of(device)
    gone = [b for b in bindings if b.binding.integration_id == integration_id]
    rest = [b for b in bindings if b.binding.integration_id != integration_id]
    extra = [
        FieldChange(
            field="bindings",
            before=f"{b.binding.integration_id}:{b.binding.mdm_device_id}",
            after=None,
            rule="unlink",
            origin_integration_id=b.binding.integration_id,
        )
        for b in gone
    ]
    return recompose(ledger, device, rest, now, provenance, extra=extra)


def reported_by_others(device: LedgerDevice, integration_id: str) -> bool:
    """R-P4/R-S6: another bound MDM still reports the device."""
    return any(
        not b.missing_from_mdm for b in bindings_of(device) if b.binding.integration_id != integration_id
    )
