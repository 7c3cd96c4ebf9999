"""Dry run: what a run would change, field by field, published as `DryRunPlanned` (nothing applied).

Items are published per consumed batch, in messages of at most `CHUNK` items: a first sync of
100,000 devices would otherwise make messages far beyond a broker's 1 MB default limit.
"""

from __future__ import annotations

import uuid
from collections import defaultdict

from ledger_contracts import DeviceObserved, DryRunPlanned, Event, PlannedChange

from .core import Conflict, Created, Outcome, RunEndDecision, Updated
from .model import Effects, RunState, event_id

CHUNK = 500


class Planner:
    def __init__(self, fx: Effects, topic: str) -> None:
        self.fx, self.topic = fx, topic
        self.items: dict[uuid.UUID, list[PlannedChange]] = defaultdict(list)
        self.last: dict[uuid.UUID, Event] = {}  # run -> its latest source event in this batch

    def observed(self, run: RunState, msg: DeviceObserved, outcome: Outcome) -> None:
        mdm_id = msg.device.mdm_device_id
        item = None
        if isinstance(outcome, Created):
            item = PlannedChange(
                action="create",
                mdm_device_id=mdm_id,
                device_id=outcome.device.device_id,
                changes=outcome.changes,
            )
        elif isinstance(outcome, Updated):
            item = PlannedChange(
                action="update",
                mdm_device_id=mdm_id,
                device_id=outcome.device.device_id,
                changes=outcome.changes,
            )
        elif isinstance(outcome, Conflict):
            item = PlannedChange(
                action="conflict", mdm_device_id=mdm_id, conflict_rule=outcome.rule, message=outcome.message
            )
        if item is not None:
            self.items[run.sync_run_id].append(item)
        self.last[run.sync_run_id] = msg

    def run_end(self, run: RunState, decision: RunEndDecision) -> None:
        items = self.items[run.sync_run_id]
        for moved, _ in decision.reenrolled:
            binding = moved.device.binding
            items.append(
                PlannedChange(
                    action="update",
                    mdm_device_id=binding.mdm_device_id if binding else None,
                    device_id=moved.device.device_id,
                    changes=moved.changes,
                    message="re-enrolled: the old MDM id is absent from this run",
                )
            )
        for marked in decision.missing:
            binding = marked.device.binding
            items.append(
                PlannedChange(
                    action="mark_missing",
                    mdm_device_id=binding.mdm_device_id if binding else None,
                    device_id=marked.device.device_id,
                    changes=marked.changes,
                )
            )

    def flush(self, run_id: uuid.UUID, source: Event) -> None:
        items = self.items.pop(run_id, [])
        self.last.pop(run_id, None)
        for i in range(0, len(items), CHUNK):
            self.fx.publish(
                self.topic,
                DryRunPlanned(
                    event_id=event_id(source, "planned", i // CHUNK),
                    occurred_at=source.occurred_at,
                    tenant_id=source.tenant_id,
                    sync_run_id=run_id,
                    items=tuple(items[i : i + CHUNK]),
                ),
            )

    def flush_all(self) -> None:
        """At the end of a batch: what the batch planned for runs that go on in the next one."""
        for run_id, source in sorted(self.last.items(), key=lambda kv: str(kv[0])):
            self.flush(run_id, source)
