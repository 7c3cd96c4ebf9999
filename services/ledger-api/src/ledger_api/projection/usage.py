"""R-C3, automatic: when a sync changes the assigned user of a bound device, the device's open
usage period ends the day before the change and the new user's period starts that day (in the
tenant's time zone), with provenance (sync run, integration, change event). Runs inside the batch's
transaction, after the device rows are written.

Idempotent: every change turned into periods is recorded in `usage_history_events` (API-owned, not
rebuilt by a replay); a change whose device already has an applied change of the same or a newer
version is skipped — a redelivery, a replay, or an older version arriving late appends nothing,
even when its period was since edited or deleted by hand. Set-based: a few statements per batch,
whatever its size (a first sync of 100,000 devices with users is one pass).
"""

from __future__ import annotations

import json
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from ..domain.usage_history import Entry, assigned_user_changed
from .decode import StagedChange

if TYPE_CHECKING:
    from .write import Connection

_LOCK = 0x05A6E  # the usage-history lock of the API (adapters/repositories/usage_history.py)


@dataclass(frozen=True)
class UserChange:
    tenant_id: str
    device_id: uuid.UUID
    event_id: uuid.UUID
    version: int
    occurred_at: Any
    user: str | None
    sync_run_id: uuid.UUID | None
    integration_id: str | None


def user_changes(rows: Sequence[StagedChange]) -> list[UserChange]:
    """The changes of a batch made by a sync that set the assigned user of a bound device (pure)."""
    out = []
    for r in rows:
        if r.binding_mdm_device_id is None or '"assigned_user"' not in r.changes:
            continue
        provenance = json.loads(r.provenance)
        if provenance.get("actor") != "sync":
            continue
        if not any(c.get("field") == "assigned_user" for c in json.loads(r.changes)):
            continue
        sync_run_id = provenance.get("sync_run_id")
        out.append(
            UserChange(
                r.tenant_id,
                r.device_id,
                r.event_id,
                r.version,
                r.occurred_at,
                r.assigned_user,
                uuid.UUID(sync_run_id) if sync_run_id else None,
                provenance.get("integration_id") or r.binding_integration_id,
            )
        )
    out.sort(key=lambda c: (c.tenant_id, str(c.device_id), c.version))
    return out


async def append_usage(conn: Connection, rows: Sequence[StagedChange]) -> int:
    """Apply the batch's assigned-user changes to the usage history; returns the periods opened."""
    changes = user_changes(rows)
    if not changes:
        return 0
    tenants = sorted({c.tenant_id for c in changes})
    for t in tenants:  # the same lock as a usage-history edit or import by hand
        await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", _LOCK, zlib.crc32(t.encode()) - 2**31)
    keys_t = [c.tenant_id for c in changes]
    keys_d = [c.device_id for c in changes]
    applied = {
        (r["tenant_id"], r["device_id"]): r["version"]
        for r in await conn.fetch(
            "SELECT e.tenant_id, e.device_id, max(e.version) AS version FROM ledger.usage_history_events e "
            "JOIN unnest($1::text[], $2::uuid[]) AS k(t, d) ON e.tenant_id = k.t AND e.device_id = k.d "
            "GROUP BY e.tenant_id, e.device_id",
            keys_t,
            keys_d,
        )
    }
    zones = {
        r["tenant_id"]: r["time_zone"]
        for r in await conn.fetch(
            "SELECT tenant_id, time_zone FROM ledger.tenants WHERE tenant_id = ANY($1::text[])", tenants
        )
    }
    entries: dict[tuple[str, uuid.UUID], dict[int, Entry]] = {}
    for r in await conn.fetch(
        "SELECT u.tenant_id, u.device_id, u.entry_id, u.user_name, u.used_from, u.used_to, u.origin "
        "FROM ledger.usage_history u "
        "JOIN (SELECT DISTINCT t, d FROM unnest($1::text[], $2::uuid[]) AS k(t, d)) k "
        "ON u.tenant_id = k.t AND u.device_id = k.d",
        keys_t,
        keys_d,
    ):
        entries.setdefault((r["tenant_id"], r["device_id"]), {})[r["entry_id"]] = Entry(
            r["entry_id"], r["user_name"], r["used_from"], r["used_to"], r["origin"]
        )

    closed: dict[int, date] = {}
    deleted: set[int] = set()
    pending: dict[int, tuple[UserChange, date, date | None]] = {}  # provisional id (< 0) -> new period
    markers: list[UserChange] = []
    next_id = -1  # provisional ids of the periods this batch opens
    for c in changes:
        key = (c.tenant_id, c.device_id)
        if c.version <= applied.get(key, 0):
            continue  # redelivered, replayed, or older than a change already applied
        applied[key] = c.version
        markers.append(c)
        day = c.occurred_at.astimezone(ZoneInfo(zones.get(c.tenant_id) or "UTC")).date()
        mine = entries.setdefault(key, {})
        steps = assigned_user_changed(list(mine.values()), c.user, day)
        for entry_id, last in steps.close:
            e = mine[entry_id]
            mine[entry_id] = Entry(e.entry_id, e.user, e.used_from, last, e.origin)
            if entry_id < 0:
                change, start, _ = pending[entry_id]
                pending[entry_id] = (change, start, last)
            else:
                closed[entry_id] = last
        for entry_id in steps.delete:
            del mine[entry_id]
            if entry_id < 0:
                del pending[entry_id]
            else:
                deleted.add(entry_id)
                closed.pop(entry_id, None)
        if steps.open_for is not None:
            provisional = next_id
            next_id -= 1
            mine[provisional] = Entry(provisional, steps.open_for, day, None, "sync")
            pending[provisional] = (c, day, None)

    if deleted:
        await conn.execute(
            "DELETE FROM ledger.usage_history WHERE entry_id = ANY($1::bigint[])", sorted(deleted)
        )
    if closed:
        await conn.execute(
            "UPDATE ledger.usage_history u SET used_to = k.last, updated_at = now() "
            "FROM unnest($1::bigint[], $2::date[]) AS k(id, last) WHERE u.entry_id = k.id",
            list(closed),
            list(closed.values()),
        )
    if pending:
        new = list(pending.values())
        await conn.execute(
            "INSERT INTO ledger.usage_history (tenant_id, device_id, user_name, used_from, used_to, origin, "
            "sync_run_id, integration_id, source_event_id, source_version) "
            "SELECT t, d, u, f, e, 'sync', r, i, ev, v FROM unnest($1::text[], $2::uuid[], $3::text[], "
            "$4::date[], $5::date[], $6::uuid[], $7::text[], $8::uuid[], $9::integer[]) "
            "AS k(t, d, u, f, e, r, i, ev, v) ON CONFLICT DO NOTHING",
            [c.tenant_id for c, _, _ in new],
            [c.device_id for c, _, _ in new],
            [c.user for c, _, _ in new],
            [start for _, start, _ in new],
            [end for _, _, end in new],
            [c.sync_run_id for c, _, _ in new],
            [c.integration_id for c, _, _ in new],
            [c.event_id for c, _, _ in new],
            [c.version for c, _, _ in new],
        )
    await conn.execute(
        "INSERT INTO ledger.usage_history_events (tenant_id, device_id, event_id, version) "
        "SELECT * FROM unnest($1::text[], $2::uuid[], $3::uuid[], $4::integer[]) ON CONFLICT DO NOTHING",
        [c.tenant_id for c in markers],
        [c.device_id for c in markers],
        [c.event_id for c in markers],
        [c.version for c in markers],
    )
    return len(pending)
