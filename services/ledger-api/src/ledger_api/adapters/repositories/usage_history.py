"""Usage history (R-C3): manual data of the API alone, written here directly, one transaction per
import (no MDM and no reconciler rule is involved, so no command goes through Kafka)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator
from datetime import date
from typing import Any

import asyncpg

from ...domain.device_csv import asset_key
from ...domain.usage_history import Devices, Entry, Mode, Period
from ..db import Connection

_LOCK = 0x05A6E  # with the tenant: one usage-history import per tenant at a time


async def devices(conn: Connection, tenant_id: str) -> Devices:
    out = Devices()
    for r in await conn.fetch(
        "SELECT device_id, asset_number FROM ledger.devices WHERE tenant_id = $1", tenant_id
    ):
        out.ids.add(r["device_id"])
        if (key := asset_key(r["asset_number"])) is not None:
            out.by_asset[key] = r["device_id"]
    return out


async def lock(conn: Connection, tenant_id: str) -> None:
    """Held until the transaction ends: the periods checked are the periods written against."""
    await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK, zlib.crc32(tenant_id.encode()) - 2**31)


async def recorded(conn: Connection, tenant_id: str, device_ids: set[uuid.UUID]) -> list[Period]:
    rows = await conn.fetch(
        "SELECT device_id, user_name, used_from, used_to FROM ledger.usage_history "
        "WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])",
        tenant_id,
        list(device_ids),
    )
    return [Period(None, r["device_id"], r["user_name"], r["used_from"], r["used_to"]) for r in rows]


async def write(conn: Connection, tenant_id: str, periods: list[Period], mode: Mode) -> int:
    """`replace`: the devices of the file get exactly the file's periods; `append`: they are added.
    Returns how many periods were removed."""
    removed = 0
    if mode == "replace":
        status = await conn.execute(
            "DELETE FROM ledger.usage_history WHERE tenant_id = $1 AND device_id = ANY($2::uuid[])",
            tenant_id,
            list({p.device_id for p in periods}),
        )
        removed = int(status.rsplit(" ", 1)[-1])
    await conn.copy_records_to_table(
        "usage_history",
        schema_name="ledger",
        columns=("tenant_id", "device_id", "user_name", "used_from", "used_to", "origin"),
        records=[(tenant_id, p.device_id, p.user, p.used_from, p.used_to, "import") for p in periods],
    )
    return removed


_EXPORT = """
SELECT u.device_id, d.asset_number, u.user_name, u.used_from, u.used_to
FROM ledger.usage_history u
JOIN ledger.devices d ON d.tenant_id = u.tenant_id AND d.device_id = u.device_id
WHERE u.tenant_id = $1
ORDER BY coalesce(d.asset_number, ''), u.device_id, u.used_from, u.user_name, u.used_to NULLS LAST
"""


async def export_rows(
    conn: Connection, tenant_id: str, *, chunk: int = 2000
) -> AsyncIterator[list[asyncpg.Record]]:
    """Periods of existing devices (a deleted device's history is kept but not exported: it could
    not be imported back), from a server-side cursor in the caller's transaction."""
    buffer: list[asyncpg.Record] = []
    async for record in conn.cursor(_EXPORT, tenant_id, prefetch=chunk):
        buffer.append(record)
        if len(buffer) >= chunk:
            yield buffer
            buffer = []
    if buffer:
        yield buffer


# --- one device's periods, by hand (issue 10 item 6) -----------------------------------------------

_ENTRY_COLUMNS = (
    "entry_id, device_id, user_name, used_from, used_to, origin, sync_run_id, integration_id, "
    "source_event_id, created_at, updated_at"
)


def entry_out(r: asyncpg.Record) -> dict[str, Any]:
    sync = r["origin"] == "sync"
    return {
        "entry_id": r["entry_id"],
        "device_id": r["device_id"],
        "user": r["user_name"],
        "from": r["used_from"],
        "to": r["used_to"],
        "origin": r["origin"],
        "provenance": {
            "sync_run_id": r["sync_run_id"],
            "integration_id": r["integration_id"],
            "event_id": r["source_event_id"],
        }
        if sync
        else None,
        "created_at": r["created_at"],
        "updated_at": r["updated_at"],
    }


async def device_known(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> bool:
    """A device of the tenant, or one it deleted (its history is kept)."""
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger.devices WHERE tenant_id = $1 AND device_id = $2) "
            "OR EXISTS (SELECT 1 FROM ledger.device_tombstones WHERE tenant_id = $1 AND device_id = $2)",
            tenant_id,
            device_id,
        )
    )


async def device_exists(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> bool:
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM ledger.devices WHERE tenant_id = $1 AND device_id = $2)",
            tenant_id,
            device_id,
        )
    )


async def of_device(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT {_ENTRY_COLUMNS} FROM ledger.usage_history WHERE tenant_id = $1 AND device_id = $2 "
        "ORDER BY used_from, entry_id",
        tenant_id,
        device_id,
    )


async def entries(conn: Connection, tenant_id: str, device_id: uuid.UUID) -> list[Entry]:
    return [
        Entry(r["entry_id"], r["user_name"], r["used_from"], r["used_to"], r["origin"])
        for r in await of_device(conn, tenant_id, device_id)
    ]


async def get_entry(
    conn: Connection, tenant_id: str, device_id: uuid.UUID, entry_id: int
) -> asyncpg.Record | None:
    return await conn.fetchrow(
        f"SELECT {_ENTRY_COLUMNS} FROM ledger.usage_history "
        "WHERE tenant_id = $1 AND device_id = $2 AND entry_id = $3",
        tenant_id,
        device_id,
        entry_id,
    )


async def insert_entry(
    conn: Connection, tenant_id: str, device_id: uuid.UUID, user: str, used_from: date, used_to: date | None
) -> asyncpg.Record:
    row = await conn.fetchrow(
        "INSERT INTO ledger.usage_history (tenant_id, device_id, user_name, used_from, used_to, origin) "
        f"VALUES ($1, $2, $3, $4, $5, 'manual') RETURNING {_ENTRY_COLUMNS}",
        tenant_id,
        device_id,
        user,
        used_from,
        used_to,
    )
    assert row is not None
    return row


async def update_entry(
    conn: Connection, tenant_id: str, entry_id: int, user: str, used_from: date, used_to: date | None
) -> asyncpg.Record:
    """An edited period keeps its origin and provenance (where it first came from)."""
    row = await conn.fetchrow(
        "UPDATE ledger.usage_history SET user_name = $3, used_from = $4, used_to = $5, updated_at = now() "
        f"WHERE tenant_id = $1 AND entry_id = $2 RETURNING {_ENTRY_COLUMNS}",
        tenant_id,
        entry_id,
        user,
        used_from,
        used_to,
    )
    assert row is not None
    return row


async def delete_entry(conn: Connection, tenant_id: str, entry_id: int) -> None:
    await conn.execute(
        "DELETE FROM ledger.usage_history WHERE tenant_id = $1 AND entry_id = $2", tenant_id, entry_id
    )
