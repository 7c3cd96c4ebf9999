"""R-P1/R-P3: a `SetMdmPriority` command — planned (dry run) or applied over the tenant's devices
bound to several MDMs, chunk by chunk (like an unlink, pipeline.py takes it out of the fold).

Applied: the priority is stored with the first chunk's transaction and every shared device is
re-derived with it (`core.recompose`): its fields, primary binding and source follow the new
order, each change with the rule and the MDM that gave the value, by `manual` provenance naming
the command. Dry run: the same decisions on a copy, published as `DryRunPlanned(sync_run_id=
plan_id)` items (`update`, the device and its changes), at most 500 per message, at least one
message; nothing is stored.
"""

from __future__ import annotations

from ledger_contracts import DryRunPlanned, LedgerDevice, PlannedChange, Provenance, SetMdmPriority, topics

from .changes import record_outcome
from .core import Ledger, MdmPriority, Updated, bindings_of, recompose
from .model import Effects, event_id

PLAN_ITEMS = 500


def priority_of_command(command: SetMdmPriority) -> MdmPriority:
    return MdmPriority(tuple(command.order), {k: tuple(v) for k, v in command.per_os_family.items()})


def reprioritise(
    command: SetMdmPriority, devices: list[LedgerDevice], prefix: str, linked: tuple[str, ...] = ()
) -> tuple[Effects, list[PlannedChange]]:
    """One chunk of shared devices re-derived with the command's priority, followed by the link
    order (`linked`) for integrations it does not name (R-P1)."""
    fx = Effects()
    topic = topics.named(topics.CHANGES, prefix)
    ledger = Ledger.of(command.tenant_id, devices)
    ledger.priority = priority_of_command(command).with_links(linked)
    provenance = Provenance(actor="manual", command_id=command.event_id)
    planned: list[PlannedChange] = []
    for device in sorted(devices, key=lambda d: str(d.device_id)):
        bindings = bindings_of(device)
        if len(bindings) < 2:
            continue
        outcome = recompose(ledger, device, bindings, command.occurred_at, provenance)
        if not isinstance(outcome, Updated):
            continue
        if command.dry_run:
            planned.append(
                PlannedChange(action="update", device_id=device.device_id, changes=outcome.changes)
            )
        else:
            record_outcome(outcome, command, ledger, fx, topic)
    return fx, planned


def publish_plan(command: SetMdmPriority, planned: list[PlannedChange], prefix: str) -> Effects:
    fx = Effects()
    topic = topics.named(topics.CHANGES, prefix)
    chunks = [planned[i : i + PLAN_ITEMS] for i in range(0, len(planned), PLAN_ITEMS)] or [[]]
    for n, items in enumerate(chunks):
        fx.publish(
            topic,
            DryRunPlanned(
                event_id=event_id(command, "plan", n),
                occurred_at=command.occurred_at,
                tenant_id=command.tenant_id,
                sync_run_id=command.plan_id,
                items=tuple(items),
            ),
        )
    return fx
