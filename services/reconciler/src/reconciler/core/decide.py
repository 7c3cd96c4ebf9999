"""The rules of SPEC §2–§5 as pure functions: an observation or a command in, an outcome out.

`decide_*` never mutate the ledger; `Ledger.apply(outcome)` (see `apply`) does, so a batch is a fold.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from ledger_contracts import (
    EDITABLE_FIELDS,
    Binding,
    CreateDevice,
    DeleteDevice,
    DeviceFieldsInput,
    FieldChange,
    LedgerDevice,
    MasterLinkSettings,
    MdmOnlyFields,
    ObservedDevice,
    Provenance,
    UpdateDevice,
)

from .keys import match_key
from .ledger import Ledger, binding_of
from .outcomes import Conflict, ConflictRule, Created, Deleted, Ignored, Outcome, Rejected, Unchanged, Updated
from .rules import KEEP_WHEN_UNREPORTED, PRECEDENCE, mdm_key_value, mdm_values, resolve_field
from .several import is_shared, observe

# --- sync: one observed MDM device ------------------------------------------------------------


REBOUND = "re-bound: former binding remembered, R-S7"


def decide_observation(
    ledger: Ledger,
    link: MasterLinkSettings,
    sync_run_id: uuid.UUID,
    observed: ObservedDevice,
    now: datetime,
    new_device_id: uuid.UUID,
    *,
    shared_by: int = 1,
    keep_empty: bool = False,
) -> Outcome:
    """R-M2–R-M5, R-M9: find the ledger device of `observed`, then create, update or refuse.

    Order: the binding (R-M4), then a binding an unlink kept in memory (R-S7), then a person's
    ignore (R-M9), then the matching key. `shared_by` is how many MDM devices of the run carry
    this key (R-M15: a device name shared by several MDM devices matches nothing, it conflicts).
    `keep_empty` (R-M14): the record came with warnings, some of its fields were emptied because the
    MDM sent them malformed: an empty value is unknown then, and never erases what the ledger has."""
    provenance = Provenance(actor="sync", integration_id=link.integration_id, sync_run_id=sync_run_id)
    bound = ledger.bound_to(link.integration_id, observed.mdm_device_id)
    if bound is not None and (is_shared(bound) or _bound_elsewhere(bound, link)):
        return observe_shared(ledger, link, bound, observed, now, provenance, keep_empty)  # R-P3
    if bound is not None:  # R-M4: the binding wins over any key
        return update_from_mdm(
            ledger, link, bound, observed, now, provenance, bind=False, keep_empty=keep_empty
        )
    former = ledger.former_of(link.integration_id, observed.mdm_device_id)
    if former is not None and former.binding is not None:
        # R-S7 on a device another MDM kept bound (R-P4): this MDM device comes back beside it
        back = FieldChange(
            field="rebound",
            before=None,
            after=REBOUND,
            rule="binding",
            origin_integration_id=link.integration_id,
        )
        return observe_shared(ledger, link, former, observed, now, provenance, keep_empty, extra=[back])
    if former is not None:  # R-S7: kept by an unlink, bound back before any key is tried
        return update_from_mdm(
            ledger, link, former, observed, now, provenance, bind=True, rebound=True, keep_empty=keep_empty
        )
    if (link.integration_id, observed.mdm_device_id) in ledger.ignored:  # a person said so (R-M9)
        return Ignored(observed)

    key_value = mdm_key_value(link.matching_key.mdm, observed)
    key = match_key(key_value)  # R-M5: empty and placeholder keys match nothing
    candidates = ledger.candidates(link.matching_key.ledger, key) if key else []
    if not candidates:  # R-M3
        return create_from_mdm(ledger, link, observed, now, provenance, new_device_id)
    if shared_by > 1:  # R-M15: which of the MDM devices is the ledger's one? Never a guess (R-M9)
        return Conflict(
            "ambiguous_match",
            link.integration_id,
            observed,
            tuple(c.device_id for c in candidates),
            f"{link.matching_key.mdm} {key_value!r} is shared by {shared_by} MDM devices of the run; "
            f"it matches {len(candidates)} ledger device(s) by {link.matching_key.ledger}",
        )
    if len(candidates) > 1:
        return Conflict(
            "ambiguous_match",
            link.integration_id,
            observed,
            tuple(c.device_id for c in candidates),
            f"{link.matching_key.mdm} {key_value!r} matches {len(candidates)} ledger devices "
            f"by {link.matching_key.ledger}",
        )
    (candidate,) = candidates
    if candidate.binding is not None and not _bound_to_integration(candidate, link.integration_id):
        # R-P2: bound to other MDMs only: an unambiguous match binds one more MDM device
        return observe_shared(ledger, link, candidate, observed, now, provenance, keep_empty)
    if candidate.binding is not None:
        other = binding_of(candidate, link.integration_id) or candidate.binding
        rule: ConflictRule = (
            "bound_to_other_mdm_device"
            if other.integration_id == link.integration_id
            else "bound_to_other_integration"
        )
        return Conflict(
            rule,
            link.integration_id,
            observed,
            (candidate.device_id,),
            f"{link.matching_key.mdm} {key_value!r} matches device {candidate.device_id}, which is "
            f"bound to {other.mdm_kind} device {other.mdm_device_id} of integration {other.integration_id}",
        )
    return update_from_mdm(  # R-M2
        ledger, link, candidate, observed, now, provenance, bind=True, keep_empty=keep_empty
    )


def _bound_elsewhere(device: LedgerDevice, link: MasterLinkSettings) -> bool:
    return device.binding is not None and device.binding.integration_id != link.integration_id


def _bound_to_integration(device: LedgerDevice, integration_id: str) -> bool:
    """The device has a binding (primary or other) to an MDM device of `integration_id`."""
    ids = [device.binding.integration_id] if device.binding is not None else []
    return integration_id in ids + [b.binding.integration_id for b in device.other_bindings]


def observe_shared(
    ledger: Ledger,
    link: MasterLinkSettings,
    device: LedgerDevice,
    observed: ObservedDevice,
    now: datetime,
    provenance: Provenance,
    keep_empty: bool = False,
    *,
    seen_at: datetime | None = None,
    extra: list[FieldChange] | None = None,
) -> Updated | Unchanged:
    """R-P2/R-P3: a device bound to several MDMs (or about to be) re-derived from all of them.
    `seen_at`: when the MDM reported it, if not `now` (a conflict resolved later); `extra`: changes
    the history adds (R-S7: a remembered binding bound back)."""
    binding = Binding(
        integration_id=link.integration_id, mdm_kind=link.mdm_kind, mdm_device_id=observed.mdm_device_id
    )
    reported = mdm_values(observed, link.asset_number_source)
    return observe(
        ledger,
        device,
        binding,
        _mdm_block(observed),
        reported,
        now,
        provenance,
        keep_empty=keep_empty,
        seen_at=seen_at,
        extra=extra,
    )


def _mdm_block(observed: ObservedDevice) -> MdmOnlyFields:
    if observed.mdm.mdm_device_id == observed.mdm_device_id:
        return observed.mdm
    return observed.mdm.model_copy(update={"mdm_device_id": observed.mdm_device_id})


def _change(field: str, before: object, after: object, rule: str) -> FieldChange:
    return FieldChange(field=field, before=before, after=after, rule=rule)


_MDM_FIELDS = tuple(MdmOnlyFields.model_fields)


def _mdm_changes(before: MdmOnlyFields | None, after: MdmOnlyFields) -> list[FieldChange]:
    changes = []
    for name in _MDM_FIELDS:
        old = getattr(before, name) if before is not None else None
        new = getattr(after, name)
        if old != new:
            changes.append(_change(f"mdm.{name}", old, new, "mdm_only"))
    return changes


def create_from_mdm(
    ledger: Ledger,
    link: MasterLinkSettings,
    observed: ObservedDevice,
    now: datetime,
    provenance: Provenance,
    device_id: uuid.UUID,
    *,
    seen_at: datetime | None = None,
) -> Created:
    """R-M3: a new ledger device from an MDM device. `seen_at` is when the MDM reported it, when
    that is not `now` (a conflict resolved later)."""
    values = mdm_values(observed, link.asset_number_source)
    if values["asset_number"]:  # R-J3: never take another device's asset number
        values["asset_number"] = ledger.unique_asset_number(values["asset_number"], device_id)
    mdm = _mdm_block(observed)
    device = LedgerDevice(
        device_id=device_id,
        tenant_id=ledger.tenant_id,
        version=1,
        source=link.mdm_kind,
        binding=Binding(
            integration_id=link.integration_id,
            mdm_kind=link.mdm_kind,
            mdm_device_id=observed.mdm_device_id,
        ),
        mdm=mdm,
        last_seen_at=seen_at or now,
        created_at=now,
        updated_at=now,
        **values,
    )
    changes = [
        _change(name, None, value, PRECEDENCE[name]) for name, value in values.items() if value is not None
    ]
    changes.append(_change("source", None, link.mdm_kind, "binding"))
    # The MDM-only block of a new device is in its state; history lists the ledger fields it set.
    return Created(device, tuple(changes), provenance)


def update_from_mdm(
    ledger: Ledger,
    link: MasterLinkSettings,
    device: LedgerDevice,
    observed: ObservedDevice,
    now: datetime,
    provenance: Provenance,
    *,
    bind: bool,
    seen_at: datetime | None = None,
    rebound: bool = False,
    keep_empty: bool = False,
) -> Updated | Unchanged:
    """R-M2: precedence field by field; `bind` makes the device bound to this MDM device; `rebound`
    says in its history that the binding is one an unlink remembered (R-S7)."""
    values = mdm_values(observed, link.asset_number_source)
    update: dict[str, object] = {}
    changes: list[FieldChange] = []
    for name, precedence in PRECEDENCE.items():
        current = getattr(device, name)
        proposed = values[name]
        if name == "asset_number" and proposed and not current:
            proposed = ledger.unique_asset_number(proposed, device.device_id)
        keep = keep_empty or name in KEEP_WHEN_UNREPORTED
        new = resolve_field(precedence, current, proposed, keep_when_unreported=keep)
        if new != current:
            update[name] = new
            changes.append(_change(name, current, new, precedence))
    mdm = _mdm_block(observed)
    if keep_empty and device.mdm is not None:  # R-M14: an emptied MDM-only field keeps its last value
        kept = {
            n: v for n in _MDM_FIELDS if getattr(mdm, n) is None and (v := getattr(device.mdm, n)) is not None
        }
        mdm = mdm.model_copy(update=kept) if kept else mdm
    if mdm != device.mdm:
        update["mdm"] = mdm
        changes += _mdm_changes(device.mdm, mdm)
    if bind:
        update["binding"] = Binding(
            integration_id=link.integration_id,
            mdm_kind=link.mdm_kind,
            mdm_device_id=observed.mdm_device_id,
        )
        # A resolution or a re-enrollment may move an existing binding: history shows from where.
        previous = device.binding.mdm_device_id if device.binding is not None else None
        changes.append(
            FieldChange(field="binding", before=previous, after=observed.mdm_device_id, rule="binding")
        )
        if rebound:
            changes.append(FieldChange(field="rebound", before=None, after=REBOUND, rule="binding"))
    if device.source != link.mdm_kind:
        update["source"] = link.mdm_kind
        changes.append(FieldChange(field="source", before=device.source, after=link.mdm_kind, rule="binding"))
    if device.missing_from_mdm:
        update["missing_from_mdm"] = False
        changes.append(FieldChange(field="missing_from_mdm", before=True, after=False, rule="mdm_only"))
    if not changes:
        return Unchanged(device)
    update |= {"version": device.version + 1, "updated_at": now, "last_seen_at": seen_at or now}
    return Updated(device, device.model_copy(update=update), tuple(changes), provenance)


# --- manual commands (ledger.commands.v1) -----------------------------------------------------


def _clean_input(fields: DeviceFieldsInput) -> dict[str, object]:
    """Only the keys the person set; blank strings mean 'empty'. In the contract's field order:
    `model_fields_set` is a set, and its order changes with the process's hash seed — a batch
    processed again after a restart must give byte-identical events."""
    out: dict[str, object] = {}
    for name in (n for n in type(fields).model_fields if n in fields.model_fields_set):
        value = getattr(fields, name)
        if isinstance(value, str):
            value = value.strip() or None
        out[name] = value
    return out


def _custom_input(raw: object) -> dict[str, str | None]:
    """The custom fields a person set (`DeviceFieldsInput.custom_fields`), or none."""
    return raw if isinstance(raw, dict) else {}


def _asset_number_taken(ledger: Ledger, values: dict[str, object], device_id: uuid.UUID) -> bool:
    asset = values.get("asset_number")
    return isinstance(asset, str) and ledger.asset_number_taken(asset, device_id)


def decide_create(ledger: Ledger, command: CreateDevice, now: datetime) -> Created | Rejected:
    values = _clean_input(command.fields)
    if command.device_id in ledger.devices:
        return Rejected(command.event_id, command.device_id, "already_exists", "device id already exists")
    if _asset_number_taken(ledger, values, command.device_id):
        return Rejected(
            command.event_id,
            command.device_id,
            "asset_number_taken",
            f"asset number {values['asset_number']!r} belongs to another device",
        )
    custom = {k: v for k, v in _custom_input(values.pop("custom_fields", None)).items() if v is not None}
    device = LedgerDevice(
        device_id=command.device_id,
        tenant_id=ledger.tenant_id,
        version=1,
        source="manual",
        custom_fields=custom,
        created_at=now,
        updated_at=now,
        **values,
    )
    changes = [
        FieldChange(field=name, before=None, after=getattr(device, name), rule="manual")
        for name in EDITABLE_FIELDS
        if getattr(device, name) is not None
    ]
    changes += [
        FieldChange(field=f"custom_fields.{k}", before=None, after=v, rule="manual")
        for k, v in custom.items()
    ]
    return Created(device, tuple(changes), Provenance(actor="manual", command_id=command.event_id))


def decide_update(ledger: Ledger, command: UpdateDevice, now: datetime) -> Updated | Unchanged | Rejected:
    device = ledger.devices.get(command.device_id)
    if device is None:
        return Rejected(command.event_id, command.device_id, "not_found", "no such device")
    values = _clean_input(command.fields)
    if _asset_number_taken(ledger, values, device.device_id):
        return Rejected(
            command.event_id,
            command.device_id,
            "asset_number_taken",
            f"asset number {values['asset_number']!r} belongs to another device",
        )
    update: dict[str, object] = {}
    changes: list[FieldChange] = []
    for name, value in values.items():
        if name == "custom_fields":
            continue
        if getattr(device, name) != value:
            update[name] = value
            changes.append(FieldChange(field=name, before=getattr(device, name), after=value, rule="manual"))
    custom_in = _custom_input(values.get("custom_fields"))
    custom = dict(device.custom_fields)
    for key, value in custom_in.items():
        if custom.get(key) != value:
            changes.append(
                FieldChange(field=f"custom_fields.{key}", before=custom.get(key), after=value, rule="manual")
            )
            if value is None:
                custom.pop(key, None)
            else:
                custom[key] = value
    if custom != device.custom_fields:
        update["custom_fields"] = custom
    if not changes:
        return Unchanged(device)
    update |= {"version": device.version + 1, "updated_at": now}
    provenance = Provenance(actor="manual", command_id=command.event_id)
    return Updated(device, device.model_copy(update=update), tuple(changes), provenance)


def decide_delete(ledger: Ledger, command: DeleteDevice) -> Deleted | Rejected:
    device = ledger.devices.get(command.device_id)
    if device is None:
        return Rejected(command.event_id, command.device_id, "not_found", "no such device")
    if device.binding is not None and not device.missing_from_mdm:  # R-S6; R-S8: a retired one may go
        return Rejected(
            command.event_id,
            command.device_id,
            "device_bound",
            f"device is bound to {device.binding.mdm_kind} device {device.binding.mdm_device_id}; "
            "bound devices cannot be deleted by hand while the master link is on",
        )
    return Deleted(device, Provenance(actor="manual", command_id=command.event_id))


# --- folding outcomes into the ledger ------------------------------------------------------------


def apply(ledger: Ledger, outcome: Outcome) -> None:
    if isinstance(outcome, Created | Updated):
        ledger.put(outcome.device)
    elif isinstance(outcome, Deleted):
        ledger.remove(outcome.before.device_id)
