"""R-A2 over HTTP against real PostgreSQL and the real broker: a master link's schedule is edited
(and the scheduler, on a fake clock, runs it at the new time, not the old), paused and resumed;
a change of matching key (R-M15 device name included) or asset-number source is planned by a dry
run and applied by a second call. Every action is audited; another tenant gets 404."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from ledger_api_testing import sync_run_summary

from ledger_api.scheduler import Scheduler
from ledger_contracts import MasterLinkChanged, SyncRequested, codec, topics

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-A2")]

TOKYO, PARIS = ZoneInfo("Asia/Tokyo"), ZoneInfo("Europe/Paris")
# In the future, so the app's own scheduler (real clock) never finds these links due.
NOW = datetime(2030, 1, 10, 9, 0, tzinfo=TOKYO).astimezone(UTC)


@pytest.fixture
def fake_clock(app: Any) -> list[datetime]:
    now = [NOW]
    app.state.ledger.clock = lambda: now[0]
    return now


def scheduler_at(app: Any, at: datetime) -> Scheduler:
    state = app.state.ledger
    return Scheduler(state.pool, state.sync_requests, clock=lambda: at)


async def schedule_runs(db: Any) -> list[str]:
    rows = await db.fetch("SELECT master_link_id FROM ledger.sync_runs WHERE trigger = 'schedule'")
    return [r["master_link_id"] for r in rows]


def decode_request(record: Any) -> SyncRequested:
    return codec.decode(codec.sync_request_adapter, record.value)  # type: ignore[no-any-return]


async def test_a_new_schedule_moves_next_run_and_the_scheduler_runs_at_the_new_time(
    app, client, db, fake_clock
) -> None:
    """Done-when of issue 10: changing the schedule moves next_run_at; the scheduler obeys it."""
    before = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert before["schedule"]["local_time"] == "06:00" and before["schedule"]["time_zone"] == "Asia/Tokyo"
    resp = await client.patch(
        "/v1/master-links/ml-intune-1",
        json={"schedule": {"local_time": "23:30", "time_zone": "Europe/Paris"}},
    )
    assert resp.status_code == 200, resp.text
    schedule = resp.json()["schedule"]
    new_time = datetime(2030, 1, 10, 23, 30, tzinfo=PARIS)  # 09:00 Tokyo = 01:00 Paris: today 23:30
    assert (schedule["local_time"], schedule["time_zone"]) == ("23:30", "Europe/Paris")
    assert datetime.fromisoformat(schedule["next_run_at"]) == new_time
    old_time = datetime(2030, 1, 11, 6, 0, tzinfo=TOKYO)  # what it would have been (21:00 UTC)
    assert old_time < new_time
    # The old time comes first: nothing runs then.
    assert await scheduler_at(app, old_time + timedelta(minutes=1)).tick() == 0
    assert await schedule_runs(db) == []
    # At the new time it runs, once, and the next is tomorrow 23:30 Paris.
    assert await scheduler_at(app, new_time + timedelta(seconds=1)).tick() == 1
    assert await schedule_runs(db) == ["ml-intune-1"]
    after = (await client.get("/v1/master-links/ml-intune-1")).json()["schedule"]
    assert datetime.fromisoformat(after["next_run_at"]) == new_time + timedelta(days=1)
    # Only the time: the zone stays.
    only_time = (
        await client.patch("/v1/master-links/ml-intune-1", json={"schedule": {"local_time": "22:05"}})
    ).json()
    assert (
        only_time["schedule"]["time_zone"] == "Europe/Paris"
        and only_time["schedule"]["local_time"] == "22:05"
    )
    [entry, _] = await db.fetch(
        "SELECT before::text AS before, after::text AS after FROM ledger.audit_log"
        " WHERE action = 'master_link.update' ORDER BY audit_id"
    )
    assert json.loads(entry["before"])["schedule"]["local_time"] == "06:00"
    assert json.loads(entry["after"])["schedule"]["local_time"] == "23:30"


async def test_schedule_patches_are_validated(client, error) -> None:
    for bad in (
        {},
        {"schedule": {"local_time": "7:30"}},
        {"schedule": {"time_zone": "Mars/Olympus"}},
        {"x": 1},
    ):
        err = error(await client.patch("/v1/master-links/ml-intune-1", json=bad), 422, "invalid_body")
        assert err["details"][0]["field"] in ("schedule", "schedule.local_time", "schedule.time_zone", "x"), (
            err
        )
    error(
        await client.patch("/v1/master-links/nope", json={"schedule": {"local_time": "07:00"}}),
        404,
        "not_found",
    )
    assert (await client.delete("/v1/master-links/ml-intune-1?keep_devices=true")).status_code == 202
    err = error(
        await client.patch("/v1/master-links/ml-intune-1", json={"schedule": {"local_time": "07:00"}}),
        409,
        "removed",
    )
    assert err["details"]["status"] == "removed"
    error(await client.post("/v1/master-links/ml-intune-1/pause"), 409, "removed")


async def test_a_paused_link_is_not_scheduled_refuses_sync_now_and_resumes(
    app, client, db, fake_clock, error
) -> None:
    link = (await client.get("/v1/master-links/ml-intune-1")).json()
    due = datetime.fromisoformat(link["schedule"]["next_run_at"])
    paused = await client.post("/v1/master-links/ml-intune-1/pause")
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused" and paused.json()["schedule"]["next_run_at"] is None
    assert paused.json()["paused_at"] is not None
    assert (await client.post("/v1/master-links/ml-intune-1/pause")).json()[
        "status"
    ] == "paused"  # idempotent
    assert await scheduler_at(app, due + timedelta(days=2)).tick() == 0
    err = error(await client.post("/v1/master-links/ml-intune-1/sync"), 409, "paused")
    assert "paused" in err["message"] and err["details"]["status"] == "paused"
    # Its schedule can still change; it applies from the resume.
    await client.patch("/v1/master-links/ml-intune-1", json={"schedule": {"local_time": "10:00"}})
    assert (await client.get("/v1/master-links/ml-intune-1")).json()["schedule"]["next_run_at"] is None

    resumed = (await client.post("/v1/master-links/ml-intune-1/resume")).json()
    assert resumed["status"] == "active" and resumed["paused_at"] is None
    assert datetime.fromisoformat(resumed["schedule"]["next_run_at"]) == datetime(
        2030, 1, 10, 10, 0, tzinfo=TOKYO
    )
    assert (await client.post("/v1/master-links/ml-intune-1/resume")).json()["status"] == "active"
    assert await scheduler_at(app, datetime(2030, 1, 10, 10, 0, 1, tzinfo=TOKYO)).tick() == 1
    assert (await client.post("/v1/master-links/ml-intune-1/sync")).status_code == 202
    actions = [r["action"] for r in await db.fetch("SELECT action FROM ledger.audit_log ORDER BY audit_id")]
    assert actions.count("master_link.pause") == 1 and actions.count("master_link.resume") == 1
    assert "master_link.sync_now" in actions


@pytest.mark.rule("R-M15")
async def test_a_matching_key_change_is_planned_by_a_dry_run_then_applied(
    client, tap, project, db, error
) -> None:
    resp = await client.post(
        "/v1/master-links/ml-intune-1/settings/plan",
        json={"matching_key": {"mdm": "device_name", "ledger": "asset_number"}},
    )
    assert resp.status_code == 202, resp.text
    plan = resp.json()
    assert plan["status"] == "planning" and plan["master_link_id"] == "ml-intune-1"
    assert plan["current"]["matching_key"] == {"mdm": "serial_number", "ledger": "asset_number"}
    assert plan["proposed"] == {
        "matching_key": {"mdm": "device_name", "ledger": "asset_number"},
        "asset_number_source": "device_name",
    }
    assert (
        plan["plan_url"] == f"/v1/sync-runs/{plan['plan_id']}/plan"
        and resp.headers["location"] == plan["plan_url"]
    )
    run = plan["sync_run"]
    assert run["sync_run_id"] == plan["plan_id"] and run["dry_run"] is True and run["status"] == "requested"
    [record] = await (await tap(topics.SYNC_REQUESTS)).take(1)
    request = decode_request(record)
    assert request.dry_run is True and str(request.sync_run_id) == plan["plan_id"]
    assert request.master_link.matching_key.mdm == "device_name"  # the NEW settings …
    assert request.master_link.generation == plan["base_generation"] == 0  # … at the current generation
    # Nothing changed yet.
    link = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert link["matching_key"]["mdm"] == "serial_number" and link["generation"] == 0

    apply = {"plan_id": plan["plan_id"]}
    err = error(
        await client.post("/v1/master-links/ml-intune-1/settings/apply", json=apply), 409, "plan_not_ready"
    )
    assert err["details"]["status"] == "planning"
    await project(sync_run_summary("acme", uuid.UUID(plan["plan_id"]), "completed", seen=3))
    shown = (await client.get(f"/v1/master-links/ml-intune-1/settings/plans/{plan['plan_id']}")).json()
    assert shown["status"] == "ready" and shown["sync_run"]["status"] == "completed"

    applied = await client.post("/v1/master-links/ml-intune-1/settings/apply", json=apply)
    assert applied.status_code == 200, applied.text
    link = applied.json()
    assert (
        link["matching_key"] == {"mdm": "device_name", "ledger": "asset_number"} and link["generation"] == 1
    )
    commands = await (await tap(topics.COMMANDS)).take(1)
    changed = codec.decode(codec.command_adapter, commands[0].value)
    assert isinstance(changed, MasterLinkChanged) and changed.change == "settings_changed"
    assert changed.master_link.generation == 1 and changed.master_link.matching_key.mdm == "device_name"
    err = error(
        await client.post("/v1/master-links/ml-intune-1/settings/apply", json=apply), 409, "plan_applied"
    )
    # The next sync uses the new settings and generation.
    await client.post("/v1/master-links/ml-intune-1/sync")
    records = await (await tap(topics.SYNC_REQUESTS)).take(2)
    assert decode_request(records[1]).master_link.generation == 1
    assert decode_request(records[1]).master_link.matching_key.mdm == "device_name"
    actions = [r["action"] for r in await db.fetch("SELECT action FROM ledger.audit_log ORDER BY audit_id")]
    assert actions[:2] == ["master_link.settings_plan", "master_link.settings_apply"]


async def test_a_plan_made_before_another_change_is_stale(client, project, error) -> None:
    first = (
        await client.post("/v1/master-links/ml-intune-1/settings/plan", json={"asset_number_source": "uuid"})
    ).json()
    second = (
        await client.post(
            "/v1/master-links/ml-intune-1/settings/plan",
            json={"matching_key": {"mdm": "uuid", "ledger": "serial_number"}},
        )
    ).json()
    for plan in (first, second):
        await project(sync_run_summary("acme", uuid.UUID(plan["plan_id"]), "completed", seen=1))
    ok = await client.post("/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": second["plan_id"]})
    assert ok.status_code == 200 and ok.json()["asset_number_source"] == "device_name"
    err = error(
        await client.post("/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": first["plan_id"]}),
        409,
        "plan_stale",
    )
    assert "plan again" in err["message"]
    # Planning nothing new is refused; an unknown plan is 404.
    error(await client.post("/v1/master-links/ml-intune-1/settings/plan", json={}), 422, "empty_patch")
    error(
        await client.post("/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": str(uuid.uuid4())}),
        404,
        "not_found",
    )
    failed = (
        await client.post("/v1/master-links/ml-intune-1/settings/plan", json={"asset_number_source": "uuid"})
    ).json()
    await project(sync_run_summary("acme", uuid.UUID(failed["plan_id"]), "failed"))
    err = error(
        await client.post("/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": failed["plan_id"]}),
        409,
        "plan_not_ready",
    )
    assert err["details"]["status"] == "failed"


async def test_another_tenant_gets_404_on_every_new_master_link_path(client, globex, error) -> None:
    plan = (
        await client.post("/v1/master-links/ml-intune-1/settings/plan", json={"asset_number_source": "uuid"})
    ).json()
    for method, path, body in [
        ("PATCH", "/v1/master-links/ml-intune-1", {"schedule": {"local_time": "07:00"}}),
        ("POST", "/v1/master-links/ml-intune-1/pause", None),
        ("POST", "/v1/master-links/ml-intune-1/resume", None),
        ("POST", "/v1/master-links/ml-intune-1/settings/plan", {"asset_number_source": "uuid"}),
        ("POST", "/v1/master-links/ml-intune-1/settings/apply", {"plan_id": plan["plan_id"]}),
        ("GET", f"/v1/master-links/ml-intune-1/settings/plans/{plan['plan_id']}", None),
    ]:
        error(await globex.request(method, path, json=body), 404, "not_found")
    link = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert link["status"] == "active" and link["schedule"]["local_time"] == "06:00"
