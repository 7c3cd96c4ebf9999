"""R-E4: replaying ledger.changes.v1 from the start rebuilds the same ledger.

A ledger is built through the real reconciler (CSV import, syncs with bindings, creations, a
conflict and its resolution, a dry run, a missing device, manual edits, a delete, a refused
command, a run requested but never started); then `replay` rebuilds every projected table beside
the live ones, compares, and swaps them in.
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid

import asyncpg
import pytest
from ledger_api_testing import device_changed, sync_run_summary

from ledger_api.projection import replay
from ledger_contracts import MdmOnlyFields, ObservedDevice, RecordIssue

pytestmark = pytest.mark.integration


async def snapshot(db: asyncpg.Connection) -> dict[str, list[str]]:
    out = {}
    for table in replay.PROJECTED:
        rows = await db.fetch(f"SELECT (to_jsonb(t) - 'projected_at')::text AS doc FROM ledger.{table} t")
        out[table] = sorted(r["doc"] for r in rows)
    return out


async def build(client, mdm_sync) -> None:  # type: ignore[no-untyped-def]
    assert (
        await client.post("/v1/custom-fields", json={"name": "cost_center", "type": "text"})
    ).status_code == 201
    resp = await client.post(
        "/v1/devices/import",
        content=b"asset_number,serial_number,custom_cost_center\nPC-1,SN-1,IT\nPC-2,SN-DUP,FIN\nPC-3,SN-DUP,\n",
        headers={"content-type": "text/csv"},
    )
    assert resp.status_code == 200 and resp.json()["created"] == 3, resp.text
    first = await mdm_sync(
        [
            ObservedDevice(
                mdm_device_id="m-1", serial_number="SN-1", os="Windows (11)", mdm=MdmOnlyFields(udid="u1")
            ),
            ObservedDevice(mdm_device_id="m-2", serial_number="SN-2", device_name="MAC-2", os="macOS (14.5)"),
            ObservedDevice(mdm_device_id="m-3", serial_number="SN-DUP", device_name="AMBIGUOUS"),
        ]
    )
    assert (first["counts"]["created"], first["counts"]["updated"], first["counts"]["conflicts"]) == (1, 1, 1)
    [conflict] = (await client.get("/v1/conflicts")).json()["items"]
    pc2 = next(c["device_id"] for c in conflict["candidates"] if c["asset_number"] == "PC-2")
    resolved = await client.post(
        f"/v1/conflicts/{conflict['conflict_id']}/resolve", json={"resolution": "link", "device_id": pc2}
    )
    assert resolved.status_code == 200, resolved.text
    await mdm_sync([ObservedDevice(mdm_device_id="m-9", serial_number="SN-9")], dry_run=True)
    devices = {d["asset_number"]: d["device_id"] for d in (await client.get("/v1/devices")).json()["items"]}
    assert (
        await client.patch(f"/v1/devices/{devices['PC-1']}", json={"status": "in_use"})
    ).status_code == 200
    assert (await client.delete(f"/v1/devices/{devices['PC-3']}")).status_code == 204
    created = await client.post("/v1/devices", json={"asset_number": "PC-4", "notes": "by hand"})
    assert created.status_code == 201, created.text
    assert (await client.post("/v1/devices", json={"asset_number": "pc-4"})).status_code == 409  # refused
    # m-2 is not reported by a complete run: marked missing (R-M10).
    second = await mdm_sync(
        [ObservedDevice(mdm_device_id=m, serial_number=s) for m, s in (("m-1", "SN-1"), ("m-3", "SN-DUP"))]
    )
    assert second["counts"]["missing"] == 1
    requested = await client.post("/v1/master-links/ml-intune-1/sync")  # no connector here: stays requested
    assert requested.status_code == 202, requested.text


async def test_replay_rebuilds_the_same_ledger_and_repairs_a_damaged_one(
    app, client, mdm_sync, db, project
) -> None:
    await build(client, mdm_sync)
    # R-M14: a run's issues are projected too (sync_run_issues)
    issue = RecordIssue(kind="warning", mdm_device_id="m-7", field="enrolledDateTime", reason="not a date")
    await project(
        sync_run_summary("acme", uuid.uuid4(), "completed", warnings=1).model_copy(
            update={"issues": (issue,)}
        )
    )
    live = await snapshot(db)
    assert all(live[t] for t in replay.PROJECTED), {
        t: len(v) for t, v in live.items()
    }  # every table is exercised
    settings = app.state.ledger.settings

    checked = await replay.run(settings, swap=False)
    assert checked.differences == {} and not checked.swapped
    assert checked.rows == {t: len(v) for t, v in live.items()}
    assert checked.records > 0 and checked.skipped_poison == 0
    assert await snapshot(db) == live
    assert await db.fetchval("SELECT count(*) FROM pg_namespace WHERE nspname = $1", replay.SCHEMA) == 0

    # Damage the live projection; the rebuild notices, then puts it right.
    await db.execute("UPDATE ledger.devices SET model = 'tampered' WHERE asset_number = 'PC-1'")
    await db.execute("DELETE FROM ledger.conflicts")
    await db.execute("DELETE FROM ledger.device_history WHERE version = 1")
    noticed = await replay.run(settings, swap=False)
    assert set(noticed.differences) == {"devices", "conflicts", "device_history"}
    repaired = await replay.run(settings, swap=True)
    assert repaired.swapped and repaired.differences == noticed.differences
    assert await snapshot(db) == live

    # The live projection goes on from where the rebuild left it.
    pc1 = (await client.get("/v1/devices", params={"q": "pc-1"})).json()["items"][0]
    resp = await client.patch(f"/v1/devices/{pc1['device_id']}", json={"notes": "after the replay"})
    assert resp.status_code == 200 and resp.json()["notes"] == "after the replay", resp.text
    assert resp.json()["version"] == pc1["version"] + 1


async def test_the_replay_command_verifies_from_the_command_line(
    app, project, db, database_url, kafka
) -> None:
    device = uuid.uuid4()
    await project(
        device_changed("acme", device, 1, asset_number="PC-1"),
        device_changed("acme", device, 2, asset_number="PC-1", model="X1"),
    )
    await db.execute("UPDATE ledger.devices SET model = 'tampered'")
    bootstrap, prefix = kafka
    env = {
        **os.environ,
        "LEDGER_API_DATABASE_URL": database_url,
        "LEDGER_API_KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LEDGER_API_TOPIC_PREFIX": prefix,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger_api", "replay", "--verify", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 1, err.decode()  # --verify fails on a difference
    assert "differences from the live ledger: {'devices': 2}" in err.decode()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ledger_api", "replay", env=env, stderr=asyncio.subprocess.PIPE
    )
    _, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0 and "swapped in" in err.decode(), err.decode()
    assert await db.fetchval("SELECT model FROM ledger.devices") == "X1"
