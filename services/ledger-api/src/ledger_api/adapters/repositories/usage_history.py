"""Usage history (R-C3): manual data of the API alone, written here directly, one transaction per
import (no MDM and no reconciler rule is involved, so no command goes through Kafka)."""

from __future__ import annotations

import uuid
import zlib
from collections.abc import AsyncIterator

import asyncpg

from ...domain.device_csv import asset_key
from ...domain.usage_history import Devices, Mode, Period
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
        columns=("tenant_id", "device_id", "user_name", "used_from", "used_to"),
        records=[(tenant_id, p.device_id, p.user, p.used_from, p.used_to) for p in periods],
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
