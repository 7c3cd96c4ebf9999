"""Master links: settings, schedule (R-M7) and removal (R-S4/R-S5); the scheduler's claim queries."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

import asyncpg

from ledger_contracts import MasterLinkSettings

from ..db import Connection

_SELECT = """
SELECT m.master_link_id, m.settings::text AS settings, m.created_at, m.local_time, m.time_zone,
       m.next_run_at, m.removed_at, m.keep_devices, m.paused_at, i.display_name,
       r.sync_run_id AS last_sync_run_id, r.status AS last_sync_status, r.finished_at AS last_sync_finished_at
FROM ledger.master_links m
JOIN ledger.integrations i ON i.tenant_id = m.tenant_id AND i.integration_id = m.integration_id
LEFT JOIN LATERAL (
    SELECT sync_run_id, status, finished_at FROM ledger.sync_runs s
    WHERE s.tenant_id = m.tenant_id AND s.master_link_id = m.master_link_id
    ORDER BY s.created_at DESC, s.sync_run_id DESC LIMIT 1
) r ON true
WHERE m.tenant_id = $1
"""


def hhmm(value: time) -> str:
    return value.strftime("%H:%M")


def _master_link(r: asyncpg.Record) -> dict[str, Any]:
    settings = MasterLinkSettings.model_validate_json(r["settings"])
    last = None
    if r["last_sync_run_id"] is not None:
        last = {
            "sync_run_id": r["last_sync_run_id"],
            "status": r["last_sync_status"],
            "finished_at": r["last_sync_finished_at"],
        }
    removed = r["removed_at"] is not None
    paused = r["paused_at"] is not None and not removed
    return {
        **settings.model_dump(mode="json"),
        "integration_display_name": r["display_name"] or "-",
        "status": "removed" if removed else "paused" if paused else "active",
        "schedule": {
            "local_time": hhmm(r["local_time"]),
            "time_zone": r["time_zone"],
            "next_run_at": None if removed or paused else r["next_run_at"],
        },
        "removed_at": r["removed_at"],
        "paused_at": r["paused_at"] if paused else None,
        "keep_devices": r["keep_devices"],
        "created_at": r["created_at"],
        "last_sync_run": last,
    }


async def list_all(
    conn: Connection, tenant_id: str, *, include_removed: bool = False
) -> list[dict[str, Any]]:
    where = "" if include_removed else " AND m.removed_at IS NULL"
    rows = await conn.fetch(_SELECT + where + " ORDER BY m.master_link_id", tenant_id)
    return [_master_link(r) for r in rows]


async def get(conn: Connection, tenant_id: str, master_link_id: str) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SELECT + " AND m.master_link_id = $2", tenant_id, master_link_id)
    return _master_link(row) if row else None


@dataclass(frozen=True)
class LinkState:
    settings: MasterLinkSettings
    removed_at: datetime | None
    paused_at: datetime | None = None
    local_time: time | None = None
    time_zone: str | None = None
    next_run_at: datetime | None = None


async def state(
    conn: Connection, tenant_id: str, master_link_id: str, *, for_update: bool = False
) -> LinkState | None:
    """`for_update`: the row stays locked until the transaction ends (R-M12: a sync request, a
    settings change and an unlink of one link are serialised, so each carries the generation that
    was current when it was accepted)."""
    row = await conn.fetchrow(
        "SELECT settings::text AS settings, removed_at, paused_at, local_time, time_zone, next_run_at"
        " FROM ledger.master_links WHERE tenant_id = $1 AND master_link_id = $2"
        + (" FOR UPDATE" if for_update else ""),
        tenant_id,
        master_link_id,
    )
    if row is None:
        return None
    return LinkState(
        MasterLinkSettings.model_validate_json(row["settings"]),
        row["removed_at"],
        row["paused_at"],
        row["local_time"],
        row["time_zone"],
        row["next_run_at"],
    )


async def set_schedule(
    conn: Connection,
    tenant_id: str,
    master_link_id: str,
    *,
    local_time: time,
    time_zone: str,
    next_run_at: datetime | None,
) -> None:
    """R-A2: a new daily time; `next_run_at` moves with it (None while paused)."""
    await conn.execute(
        "UPDATE ledger.master_links SET local_time = $3, time_zone = $4, next_run_at = $5"
        " WHERE tenant_id = $1 AND master_link_id = $2 AND removed_at IS NULL",
        tenant_id,
        master_link_id,
        local_time,
        time_zone,
        next_run_at,
    )


async def set_paused(
    conn: Connection,
    tenant_id: str,
    master_link_id: str,
    *,
    paused_at: datetime | None,
    next_run_at: datetime | None,
) -> None:
    """R-A2: pause (no next run) or resume (the next local time after now)."""
    await conn.execute(
        "UPDATE ledger.master_links SET paused_at = $3, next_run_at = $4"
        " WHERE tenant_id = $1 AND master_link_id = $2 AND removed_at IS NULL",
        tenant_id,
        master_link_id,
        paused_at,
        next_run_at,
    )


async def replace_settings(conn: Connection, tenant_id: str, settings: MasterLinkSettings) -> None:
    """R-A2/R-M12: new matching settings with their new generation."""
    await conn.execute(
        "UPDATE ledger.master_links SET settings = $3::jsonb WHERE tenant_id = $1 AND master_link_id = $2",
        tenant_id,
        settings.master_link_id,
        settings.model_dump_json(),
    )


# --- settings plans (R-A2) ----------------------------------------------------------------------


async def create_plan(
    conn: Connection,
    tenant_id: str,
    plan_id: uuid.UUID,
    settings: MasterLinkSettings,
    *,
    base_generation: int,
    at: datetime,
) -> None:
    await conn.execute(
        "INSERT INTO ledger.settings_plans (plan_id, tenant_id, master_link_id, base_generation, settings,"
        " created_at) VALUES ($1, $2, $3, $4, $5::jsonb, $6)",
        plan_id,
        tenant_id,
        settings.master_link_id,
        base_generation,
        settings.model_dump_json(),
        at,
    )


@dataclass(frozen=True)
class SettingsPlan:
    plan_id: uuid.UUID
    master_link_id: str
    base_generation: int
    settings: MasterLinkSettings
    created_at: datetime
    applied_at: datetime | None
    run_status: str | None


async def plan(
    conn: Connection, tenant_id: str, plan_id: uuid.UUID, *, for_update: bool = False
) -> SettingsPlan | None:
    row = await conn.fetchrow(
        "SELECT p.plan_id, p.master_link_id, p.base_generation, p.settings::text AS settings, p.created_at,"
        " p.applied_at, r.status AS run_status FROM ledger.settings_plans p"
        " LEFT JOIN ledger.sync_runs r ON r.sync_run_id = p.plan_id AND r.tenant_id = p.tenant_id"
        " WHERE p.tenant_id = $1 AND p.plan_id = $2" + (" FOR UPDATE OF p" if for_update else ""),
        tenant_id,
        plan_id,
    )
    if row is None:
        return None
    return SettingsPlan(
        row["plan_id"],
        row["master_link_id"],
        row["base_generation"],
        MasterLinkSettings.model_validate_json(row["settings"]),
        row["created_at"],
        row["applied_at"],
        row["run_status"],
    )


async def mark_plan_applied(conn: Connection, tenant_id: str, plan_id: uuid.UUID, at: datetime) -> None:
    await conn.execute(
        "UPDATE ledger.settings_plans SET applied_at = $3 WHERE tenant_id = $1 AND plan_id = $2",
        tenant_id,
        plan_id,
        at,
    )


async def live_link_of(conn: Connection, tenant_id: str, integration_id: str) -> str | None:
    link_id: str | None = await conn.fetchval(
        "SELECT master_link_id FROM ledger.master_links "
        "WHERE tenant_id = $1 AND integration_id = $2 AND removed_at IS NULL",
        tenant_id,
        integration_id,
    )
    return link_id


async def exists(conn: Connection, tenant_id: str, master_link_id: str) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT true FROM ledger.master_links WHERE tenant_id = $1 AND master_link_id = $2",
            tenant_id,
            master_link_id,
        )
    )


async def create(
    conn: Connection,
    tenant_id: str,
    settings: MasterLinkSettings,
    *,
    local_time: time,
    time_zone: str,
    next_run_at: datetime,
) -> bool:
    """False when the id is taken or the integration already has a live link (a race lost).
    `announced`: the caller publishes its MasterLinkChanged "created" in this transaction (R-P1)."""
    inserted = await conn.fetchval(
        """
        INSERT INTO ledger.master_links
            (tenant_id, master_link_id, integration_id, settings, local_time, time_zone, next_run_at,
             announced)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7, true)
        ON CONFLICT DO NOTHING
        RETURNING true
        """,
        tenant_id,
        settings.master_link_id,
        settings.integration_id,
        settings.model_dump_json(),
        local_time,
        time_zone,
        next_run_at,
    )
    return bool(inserted)


async def upsert_seed(
    conn: Connection,
    tenant_id: str,
    settings: MasterLinkSettings,
    *,
    local_time: time,
    time_zone: str,
    next_run_at: datetime,
) -> None:
    """Bootstrap: settings are updated; schedule, next run and removal are the API's from then on."""
    await conn.execute(
        """
        INSERT INTO ledger.master_links
            (tenant_id, master_link_id, integration_id, settings, local_time, time_zone, next_run_at)
        VALUES ($1, $2, $3, $4::jsonb, $5, $6, $7)
        ON CONFLICT (tenant_id, master_link_id)
        DO UPDATE SET integration_id = excluded.integration_id,
            -- R-M12/R-A2: once the API raised the link's generation (a settings change applied over
            -- the API), the file no longer overrides its settings.
            settings = CASE WHEN coalesce((ledger.master_links.settings->>'generation')::bigint, 0) > 0
                            THEN ledger.master_links.settings ELSE excluded.settings END
        """,
        tenant_id,
        settings.master_link_id,
        settings.integration_id,
        settings.model_dump_json(),
        local_time,
        time_zone,
        next_run_at,
    )


async def mark_removed(
    conn: Connection,
    tenant_id: str,
    master_link_id: str,
    *,
    keep_devices: bool,
    command_id: uuid.UUID,
    at: datetime,
) -> datetime | None:
    """The removal time, or None when it was removed already (by this or a concurrent request)."""
    removed_at: datetime | None = await conn.fetchval(
        """
        UPDATE ledger.master_links
        SET removed_at = $3, keep_devices = $4, unlink_command_id = $5, next_run_at = NULL
        WHERE tenant_id = $1 AND master_link_id = $2 AND removed_at IS NULL
        RETURNING removed_at
        """,
        tenant_id,
        master_link_id,
        at,
        keep_devices,
        command_id,
    )
    return removed_at


# --- the scheduler ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Due:
    tenant_id: str
    settings: MasterLinkSettings
    local_time: time
    time_zone: str
    next_run_at: datetime


async def unscheduled(conn: Connection) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT tenant_id, master_link_id, local_time, time_zone FROM ledger.master_links "
        "WHERE removed_at IS NULL AND paused_at IS NULL AND next_run_at IS NULL"
    )


async def set_first_run(conn: Connection, tenant_id: str, master_link_id: str, at: datetime) -> None:
    await conn.execute(
        "UPDATE ledger.master_links SET next_run_at = $3 "
        "WHERE tenant_id = $1 AND master_link_id = $2 AND removed_at IS NULL AND paused_at IS NULL"
        " AND next_run_at IS NULL",
        tenant_id,
        master_link_id,
        at,
    )


async def claim_due(conn: Connection, now: datetime) -> Due | None:
    """The most overdue live link, locked for this transaction; links another replica holds are
    skipped, not waited for. Call inside a transaction."""
    row = await conn.fetchrow(
        """
        SELECT tenant_id, settings::text AS settings, local_time, time_zone, next_run_at
        FROM ledger.master_links
        WHERE removed_at IS NULL AND paused_at IS NULL AND next_run_at <= $1
        ORDER BY next_run_at
        LIMIT 1
        FOR UPDATE SKIP LOCKED
        """,
        now,
    )
    if row is None:
        return None
    return Due(
        row["tenant_id"],
        MasterLinkSettings.model_validate_json(row["settings"]),
        row["local_time"],
        row["time_zone"],
        row["next_run_at"],
    )


async def move_next_run(
    conn: Connection, tenant_id: str, master_link_id: str, old: datetime, new: datetime
) -> bool:
    """Compare-and-set: moves `next_run_at` only if it still is `old`."""
    status = await conn.execute(
        "UPDATE ledger.master_links SET next_run_at = $4 "
        "WHERE tenant_id = $1 AND master_link_id = $2 AND next_run_at = $3 AND removed_at IS NULL"
        " AND paused_at IS NULL",
        tenant_id,
        master_link_id,
        old,
        new,
    )
    return status == "UPDATE 1"
