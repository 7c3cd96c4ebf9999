"""What one batch must write (pure), given the offsets already projected per partition.

Records below a partition's stored `next_offset` were projected already and are skipped. Of
several changes of one device in a batch, only the newest version writes the device row; the
others are marked `superseded` and go to the history only. Of several summaries of one sync run,
the one the SQL guard would keep wins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field

from ledger_contracts import SyncRunSummary

from .decode import Decoded, Poison, StagedChange
from .events import Positioned


@dataclass
class BatchPlan:
    change_rows: list[StagedChange] = field(default_factory=list)
    # (partition, offset) of changes superseded by a newer version of the same device in this
    # batch: they go to the history, not to the device row.
    superseded: list[tuple[int, int]] = field(default_factory=list)
    summaries: list[SyncRunSummary] = field(default_factory=list)
    others: list[Positioned] = field(default_factory=list)
    poison: list[Poison] = field(default_factory=list)
    next_offsets: dict[int, int] = field(default_factory=dict)
    skipped: int = 0


_TERMINAL = ("completed", "failed", "refused")


def _supersedes(new: SyncRunSummary, current: SyncRunSummary) -> bool:
    """Mirror of the SQL guard on sync_runs: a terminal status is final; otherwise newest wins."""
    if current.status in _TERMINAL:
        return False
    return new.status in _TERMINAL or new.occurred_at >= current.occurred_at


def plan_batch(decoded: Iterable[Decoded], stored_offsets: dict[int, int]) -> BatchPlan:
    """What one batch must write, given the offsets already projected per partition."""
    plan = BatchPlan()
    newest: dict[tuple[str, uuid.UUID], StagedChange] = {}  # (tenant, device) -> newest change
    summaries: dict[uuid.UUID, SyncRunSummary] = {}
    rows = plan.change_rows
    for d in decoded:
        if d.offset + 1 > plan.next_offsets.get(d.partition, 0):
            plan.next_offsets[d.partition] = d.offset + 1
        if d.offset < stored_offsets.get(d.partition, 0):
            plan.skipped += 1
            continue
        row = d.change_row
        if row is not None:
            key = (row.tenant_id, row.device_id)
            current = newest.get(key)
            if current is None:
                newest[key] = row
            elif current.version < row.version:
                plan.superseded.append((current.kafka_partition, current.kafka_offset))
                newest[key] = row
            else:
                plan.superseded.append((row.kafka_partition, row.kafka_offset))
            rows.append(row)
        elif d.summary is not None:
            cur = summaries.get(d.summary.sync_run_id)
            if cur is None or _supersedes(d.summary, cur):
                summaries[d.summary.sync_run_id] = d.summary
        elif d.other is not None:
            plan.others.append(d.other)
        elif d.poison is not None:
            plan.poison.append(d.poison)
    plan.summaries = list(summaries.values())
    return plan
