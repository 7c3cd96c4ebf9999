"""Tenant settings over the API (`GET/PATCH /v1/tenant`, issue 10 item 3) and the operator command
that creates a tenant with its first admin token (R-A3), against real PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys

import httpx
import pytest
from fastapi import FastAPI

pytestmark = [pytest.mark.integration]


@pytest.mark.rule("R-M7")
async def test_the_tenant_reads_its_settings(client, globex) -> None:
    resp = await client.get("/v1/tenant")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert {k: body[k] for k in ("tenant_id", "name", "time_zone", "default_sync_time")} == {
        "tenant_id": "acme",
        "name": "Acme Corp",
        "time_zone": "Asia/Tokyo",
        "default_sync_time": "06:00",
    }
    other = (await globex.get("/v1/tenant")).json()
    assert (other["tenant_id"], other["name"], other["time_zone"]) == ("globex", "Globex", "UTC")


@pytest.mark.rule("R-M7", "R-A4")
async def test_a_new_default_sync_time_applies_to_links_created_later_only(client, db) -> None:
    """Documented decision: the tenant's zone and default sync time are the defaults of master
    links created later; an existing link keeps the schedule it was created with."""
    resp = await client.patch("/v1/tenant", json={"default_sync_time": "05:30", "time_zone": "Europe/Berlin"})
    assert resp.status_code == 200, resp.text
    assert (resp.json()["default_sync_time"], resp.json()["time_zone"]) == ("05:30", "Europe/Berlin")
    assert (await client.get("/v1/tenant")).json() == resp.json()

    existing = (await client.get("/v1/master-links/ml-intune-1")).json()["schedule"]
    assert (existing["local_time"], existing["time_zone"]) == ("06:00", "Asia/Tokyo")  # unchanged
    created = await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"})
    assert created.status_code == 201, created.text
    schedule = created.json()["schedule"]
    assert (schedule["local_time"], schedule["time_zone"]) == ("05:30", "Europe/Berlin")

    entries = (await client.get("/v1/audit-log", params={"action": "tenant.update"})).json()["items"]
    assert [(e["before"], e["after"]) for e in entries] == [
        (
            {"default_sync_time": "06:00", "time_zone": "Asia/Tokyo"},
            {"default_sync_time": "05:30", "time_zone": "Europe/Berlin"},
        )
    ]
    assert entries[0]["target_type"] == "tenant" and entries[0]["target_id"] == "acme"
    assert entries[0]["actor"]["name"] == "bootstrap"


async def test_an_unchanged_setting_records_nothing(client) -> None:
    assert (await client.patch("/v1/tenant", json={"name": "Acme Corp"})).status_code == 200
    assert (await client.get("/v1/audit-log", params={"action": "tenant.update"})).json()["items"] == []
    assert (await client.patch("/v1/tenant", json={"name": "Acme K.K."})).json()["name"] == "Acme K.K."
    [entry] = (await client.get("/v1/audit-log", params={"action": "tenant.update"})).json()["items"]
    assert (entry["before"], entry["after"]) == ({"name": "Acme Corp"}, {"name": "Acme K.K."})


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"time_zone": "Mars/Olympus"}, "time_zone", "invalid_body"),
        ({"time_zone": "JST"}, "time_zone", "invalid_body"),
        ({"default_sync_time": "6:00"}, "default_sync_time", "invalid_body"),
        ({"default_sync_time": "24:00"}, "default_sync_time", "invalid_body"),
        ({"name": ""}, "name", "invalid_body"),
        ({"name": None}, "name", "invalid_body"),
        ({"tenant_id": "other"}, "tenant_id", "invalid_body"),
        ({}, None, "empty_patch"),
    ],
)
async def test_bad_settings_are_422_naming_the_field_and_change_nothing(
    client, error, body: dict[str, object], field: str | None, code: str
) -> None:
    before = (await client.get("/v1/tenant")).json()
    err = error(await client.patch("/v1/tenant", json=body), 422, code)
    if field is not None:
        assert field in {d["field"] for d in err["details"]}, err
    assert (await client.get("/v1/tenant")).json() == before


async def test_a_tenant_changes_only_its_own_settings(client, globex) -> None:
    assert (await globex.patch("/v1/tenant", json={"time_zone": "America/New_York"})).status_code == 200
    assert (await client.get("/v1/tenant")).json()["time_zone"] == "Asia/Tokyo"
    assert (await globex.get("/v1/tenant")).json()["time_zone"] == "America/New_York"
    assert (await client.get("/v1/audit-log")).json()["items"] == []  # globex's change is not acme's


# --- the operator command -----------------------------------------------------------------------


def run_command(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LEDGER_API_DATABASE_URL": database_url}
    return subprocess.run(
        [sys.executable, "-m", "ledger_api", "create-tenant", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


@pytest.mark.rule("R-A3", "R-A4")
async def test_the_operator_command_creates_a_tenant_and_prints_its_first_admin_token_once(
    app: FastAPI, database_url: str, db
) -> None:
    done = run_command(database_url, "initech", "--name", "Initech", "--time-zone", "Asia/Tokyo")
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert token.startswith("dl_") and "\n" not in token  # stdout is the token alone (logs: stderr)
    assert token not in done.stderr
    stored = await db.fetchrow("SELECT * FROM ledger.api_tokens WHERE tenant_id = 'initech'")
    assert stored["token_hash"] != token and stored["scopes"] == ["admin"]

    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {token}"},
    ) as initech:
        me = (await initech.get("/v1/tokens/current")).json()
        assert (me["tenant_id"], me["name"], me["scopes"]) == ("initech", "first admin", ["admin"])
        settings = (await initech.get("/v1/tenant")).json()
        assert (settings["name"], settings["time_zone"], settings["default_sync_time"]) == (
            "Initech",
            "Asia/Tokyo",
            "06:00",
        )
        log = (await initech.get("/v1/audit-log")).json()["items"]
        assert [e["action"] for e in log] == ["token.create", "tenant.create"]
        assert all(e["actor"] == {"token_id": None, "name": "operator (create-tenant)"} for e in log)
        assert token not in str(log)
        assert (await initech.get("/v1/devices")).json()["items"] == []

    again = run_command(database_url, "initech", "--name", "Other")
    assert again.returncode == 1 and "exists already" in again.stderr and again.stdout == ""
    assert await db.fetchval("SELECT count(*) FROM ledger.api_tokens WHERE tenant_id = 'initech'") == 1
    bad = run_command(database_url, "hooli", "--name", "Hooli", "--time-zone", "Mars/Olympus")
    assert bad.returncode == 1 and "time_zone" in bad.stderr and bad.stdout == ""
    assert await db.fetchval("SELECT count(*) FROM ledger.tenants WHERE tenant_id = 'hooli'") == 0
    usage = run_command(database_url, "hooli")  # --name is required
    assert usage.returncode == 2 and "--name" in usage.stderr
