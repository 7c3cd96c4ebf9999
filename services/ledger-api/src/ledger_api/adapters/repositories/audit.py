"""R-A4: the per-tenant audit log. Every administrative action calls `record` in its own
transaction, so an action and its entry are stored together or not at all."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ...domain.audit import redact
from ..db import Connection


@dataclass(frozen=True)
class Actor:
    """Who acted: an API token (by id and name, never its secret) or an operator command."""

    name: str
    token_id: uuid.UUID | None = None


async def record(
    conn: Connection,
    tenant_id: str,
    actor: Actor,
    action: str,
    target_type: str,
    target_id: str | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO ledger.audit_log (tenant_id, actor_token, actor_name, action, target_type, target_id,"
        " before, after) VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8::jsonb)",
        tenant_id,
        actor.token_id,
        actor.name,
        action,
        target_type,
        target_id,
        None if before is None else json.dumps(redact(before), default=str),
        None if after is None else json.dumps(redact(after), default=str),
    )


@dataclass(frozen=True)
class AuditFilter:
    """`GET /v1/audit-log` filters; None is "any"."""

    action: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    actor_token: uuid.UUID | None = None
    occurred_from: datetime | None = None  # inclusive
    occurred_to: datetime | None = None  # exclusive


async def page(
    conn: Connection, tenant_id: str, where: AuditFilter, *, after_id: int | None, limit: int
) -> list[dict[str, Any]]:
    """Entries newest first (by `audit_id`), those older than `after_id` when paging; at most
    `limit` + 1 rows, so the caller knows whether there is a next page."""
    rows = await conn.fetch(
        """
        SELECT audit_id, occurred_at, actor_token, actor_name, action, target_type, target_id,
               before, after
        FROM ledger.audit_log
        WHERE tenant_id = $1
          AND ($2::text IS NULL OR action = $2)
          AND ($3::text IS NULL OR target_type = $3)
          AND ($4::text IS NULL OR target_id = $4)
          AND ($5::uuid IS NULL OR actor_token = $5)
          AND ($6::timestamptz IS NULL OR occurred_at >= $6)
          AND ($7::timestamptz IS NULL OR occurred_at < $7)
          AND ($8::bigint IS NULL OR audit_id < $8)
        ORDER BY audit_id DESC
        LIMIT $9
        """,
        tenant_id,
        where.action,
        where.target_type,
        where.target_id,
        where.actor_token,
        where.occurred_from,
        where.occurred_to,
        after_id,
        limit + 1,
    )
    return [
        {
            "audit_id": r["audit_id"],
            "occurred_at": r["occurred_at"],
            "actor": {"token_id": r["actor_token"], "name": r["actor_name"]},
            "action": r["action"],
            "target_type": r["target_type"],
            "target_id": r["target_id"],
            "before": None if r["before"] is None else json.loads(r["before"]),
            "after": None if r["after"] is None else json.loads(r["after"]),
        }
        for r in rows
    ]
