"""R-A4: the per-tenant audit log. Every administrative action calls `record` in its own
transaction, so an action and its entry are stored together or not at all."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
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
