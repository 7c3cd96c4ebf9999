"""A dry run's plan (issue 4): the items of its DryRunPlanned messages, in the order planned."""

from __future__ import annotations

import json
import uuid
from typing import Any

from ..db import Connection

Position = tuple[int, int, int]  # (partition, offset, index in the message)


async def belongs_to(conn: Connection, tenant_id: str, sync_run_id: uuid.UUID) -> bool:
    """The run is the tenant's: known as a sync run, or by a plan item."""
    return bool(
        await conn.fetchval(
            """
            SELECT EXISTS (SELECT 1 FROM ledger.sync_runs WHERE sync_run_id = $2 AND tenant_id = $1)
                OR EXISTS (SELECT 1 FROM ledger.dry_run_items WHERE sync_run_id = $2 AND tenant_id = $1)
            """,
            tenant_id,
            sync_run_id,
        )
    )


async def page(
    conn: Connection,
    tenant_id: str,
    sync_run_id: uuid.UUID,
    *,
    action: str | None,
    after: Position | None,
    limit: int,
) -> tuple[list[dict[str, Any]], Position | None]:
    rows = await conn.fetch(
        """
        SELECT kafka_partition, kafka_offset, seq, action, mdm_device_id, device_id, changes::text AS changes,
               conflict_rule, message
        FROM ledger.dry_run_items
        WHERE sync_run_id = $2 AND tenant_id = $1 AND ($3::text IS NULL OR action = $3)
          AND ($4::integer IS NULL OR (kafka_partition, kafka_offset, seq) > ($4, $5::bigint, $6::integer))
        ORDER BY kafka_partition, kafka_offset, seq
        LIMIT $7
        """,
        tenant_id,
        sync_run_id,
        action,
        *(after or (None, None, None)),
        limit + 1,
    )
    nxt = None
    if len(rows) > limit:
        rows = rows[:limit]
        last = rows[-1]
        nxt = (last["kafka_partition"], last["kafka_offset"], last["seq"])
    items = [
        {
            "action": r["action"],
            "mdm_device_id": r["mdm_device_id"],
            "device_id": r["device_id"],
            "changes": json.loads(r["changes"]),
            "conflict_rule": r["conflict_rule"],
            "message": r["message"],
        }
        for r in rows
    ]
    return items, nxt


async def counts(conn: Connection, tenant_id: str, sync_run_id: uuid.UUID) -> dict[str, int]:
    rows = await conn.fetch(
        "SELECT action, count(*) AS n FROM ledger.dry_run_items WHERE sync_run_id = $2 AND tenant_id = $1 "
        "GROUP BY action",
        tenant_id,
        sync_run_id,
    )
    return {r["action"]: r["n"] for r in rows}
