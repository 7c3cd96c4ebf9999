"""The administrator's workflow over HTTP against real PostgreSQL and the real broker: connect an
MDM (R-S3), link it (R-M1, R-S2, R-S3), sync it now, unlink it (R-S4, R-S5); tenancy; metrics;
credentials seeded by the bootstrap file and re-encrypted when the key rotates."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest
from cryptography.fernet import Fernet
from ledger_api_testing import sync_run_summary
from pydantic import SecretStr

from devstack.testing import wait_for
from ledger_api import bootstrap
from ledger_api.adapters import db
from ledger_api.app import build_app
from ledger_api.domain.crypto import KeyRing
from ledger_api.settings import Settings
from ledger_contracts import SyncRequested, UnlinkMasterLink, codec, topics

pytestmark = pytest.mark.integration

KEY = Fernet.generate_key().decode()
INTUNE = {
    "kind": "intune",
    "integration_id": "int-intune-2",
    "display_name": "Contoso Intune",
    "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
    "client_id": "0c4f9b0e-6a51-4b4f-9a8b-3f1b6c2d7e90",
    "client_secret": "intune-Secret~value~0001",
    "graph_base_url": "https://graph.sim.test",
}
JAMF = {
    "kind": "jamf_pro",
    "base_url": "https://jamf.example.com:8443",
    "username": "ledger-sync",
    "password": "jamf-Passw0rd~value~0002",
}


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(KEY)})


def decode_request(record: Any) -> SyncRequested:
    return codec.decode(codec.sync_request_adapter, record.value)  # type: ignore[no-any-return]


# --- integrations ------------------------------------------------------------------------------


async def test_create_an_integration_stores_the_secret_sealed_and_never_returns_it(client, db, error) -> None:
    resp = await client.post("/v1/integrations", json=INTUNE)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert resp.headers["location"] == "/v1/integrations/int-intune-2"
    # R-A1: "connected" only after a successful test or sync; a new integration is untested.
    assert body["has_secret"] is True and body["state"] == "untested" and body["master_link_ids"] == []
    assert body["display_name"] == "Contoso Intune" and body["kind"] == "intune"
    assert body["connection"] == {
        "azure_tenant_id": INTUNE["azure_tenant_id"],
        "client_id": INTUNE["client_id"],
        "authority_url": None,
        "graph_base_url": "https://graph.sim.test",
        "ca_bundle": None,
    }
    assert "client_secret" not in resp.text and INTUNE["client_secret"] not in resp.text
    assert (await client.get("/v1/integrations/int-intune-2")).json() == body
    listed = {i["integration_id"]: i for i in (await client.get("/v1/integrations")).json()["items"]}
    assert listed["int-intune-2"] == body and listed["int-intune-1"]["state"] == "master_linked"

    row = await db.fetchrow("SELECT * FROM ledger.integrations WHERE integration_id = 'int-intune-2'")
    assert INTUNE["client_secret"] not in json.dumps(dict(row), default=str)
    assert row["credentials_key_id"] == KeyRing.parse(KEY).key_id
    assert KeyRing.parse(KEY).decrypt_json(row["credentials"]) == {
        "azure_tenant_id": INTUNE["azure_tenant_id"],
        "client_id": INTUNE["client_id"],
        "client_secret": INTUNE["client_secret"],
        "graph_base_url": "https://graph.sim.test",
    }
    err = error(await client.post("/v1/integrations", json=INTUNE), 409, "integration_exists")
    assert err["details"] == {"integration_id": "int-intune-2"}


async def test_jamf_integrations_an_empty_display_name_shows_as_dash_and_ids_are_generated(client) -> None:
    resp = await client.post("/v1/integrations", json=JAMF | {"display_name": ""})
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["integration_id"].startswith("int-") and body["display_name"] == "-"  # R-S3
    assert body["connection"]["auth"] == "user" and body["connection"]["username"] == "ledger-sync"
    oauth = {k: v for k, v in JAMF.items() if k not in ("username", "password")}
    second = await client.post(
        "/v1/integrations", json=oauth | {"client_id": "api-1", "client_secret": "x" * 20}
    )
    assert second.status_code == 201 and second.json()["connection"]["auth"] == "api_client"
    assert second.json()["integration_id"] != body["integration_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({k: v for k, v in INTUNE.items() if k != "client_secret"}, "client_secret"),
        (INTUNE | {"graph_base_url": "graph.microsoft.com"}, "graph_base_url"),
        (INTUNE | {"integration_id": "has space"}, "integration_id"),
        (INTUNE | {"colour": "red"}, "colour"),
        (JAMF | {"client_id": "c", "client_secret": "s"}, "jamf_pro"),
        ({"kind": "kandji", "base_url": "https://x.example"}, "body"),
    ],
)
async def test_invalid_integrations_are_422_naming_the_field_and_never_echo_a_secret(
    client, error, body: dict[str, Any], field: str
) -> None:
    resp = await client.post("/v1/integrations", json=body)
    err = error(resp, 422, "invalid_body")
    assert any(field in d["field"] for d in err["details"]), err
    for secret in (INTUNE["client_secret"], JAMF["password"]):
        assert secret not in resp.text
    assert (await client.get("/v1/integrations")).json()["items"][-1]["integration_id"] == "int-jamf-1"


async def test_without_a_secrets_key_credentials_cannot_be_stored(app, client, error) -> None:
    app.state.ledger.keys = None
    error(await client.post("/v1/integrations", json=INTUNE), 503, "secrets_key_missing")
    error(await client.get("/v1/integrations/int-intune-2"), 404, "not_found")


# --- master links -----------------------------------------------------------------------------


async def test_link_starts_the_first_full_sync_with_sealed_credentials(client, tap, error) -> None:
    await client.post("/v1/integrations", json=INTUNE)
    resp = await client.post(
        "/v1/master-links",
        json={
            "integration_id": "int-intune-2",
            "master_link_id": "ml-intune-2",
            "matching_key": {"mdm": "uuid", "ledger": "asset_number"},
            "asset_number_source": "uuid",
        },
    )
    assert resp.status_code == 201, resp.text
    link = resp.json()
    assert resp.headers["location"] == "/v1/master-links/ml-intune-2"
    assert link["status"] == "active" and link["mdm_kind"] == "intune"
    assert link["integration_display_name"] == "Contoso Intune"
    assert link["schedule"]["local_time"] == "06:00" and link["schedule"]["time_zone"] == "Asia/Tokyo"
    assert link["schedule"]["next_run_at"] is not None
    run = link["sync_run"]
    assert (run["status"], run["trigger"], run["dry_run"]) == ("requested", "link_created", False)
    assert (await client.get(f"/v1/sync-runs/{run['sync_run_id']}")).json()["trigger"] == "link_created"

    [record] = await (await tap(topics.SYNC_REQUESTS)).take(1)
    request = decode_request(record)
    assert str(request.sync_run_id) == run["sync_run_id"] and request.trigger == "link_created"
    assert request.master_link.matching_key.mdm == "uuid" and request.master_link.mdm_kind == "intune"
    assert request.credentials is not None and request.credentials.key_id == KeyRing.parse(KEY).key_id
    assert INTUNE["client_secret"] not in record.value.decode()
    entry = KeyRing.parse(KEY).decrypt_json(request.credentials.ciphertext)
    assert (
        entry["client_secret"] == INTUNE["client_secret"]
        and entry["azure_tenant_id"] == INTUNE["azure_tenant_id"]
    )

    integration = (await client.get("/v1/integrations/int-intune-2")).json()
    assert integration["state"] == "master_linked" and integration["master_link_ids"] == ["ml-intune-2"]
    err = error(
        await client.post("/v1/master-links", json={"integration_id": "int-intune-2"}), 409, "already_linked"
    )
    assert err["details"]["master_link_id"] == "ml-intune-2"
    error(await client.post("/v1/master-links", json={"integration_id": "nope"}), 404, "not_found")
    body = {"integration_id": "int-jamf-1", "master_link_id": "ml-intune-2"}
    error(await client.post("/v1/master-links", json=body), 409, "master_link_exists")


async def test_a_schedule_can_be_given_and_is_validated(client, error) -> None:
    resp = await client.post(
        "/v1/master-links",
        json={
            "integration_id": "int-jamf-1",
            "schedule": {"local_time": "23:15", "time_zone": "Europe/Berlin"},
        },
    )
    assert resp.status_code == 201, resp.text
    schedule = resp.json()["schedule"]
    assert (schedule["local_time"], schedule["time_zone"]) == ("23:15", "Europe/Berlin")
    assert resp.json()["sync_run"]["integration_id"] == "int-jamf-1"
    for bad in ({"local_time": "6:00"}, {"local_time": "24:00"}, {"time_zone": "Mars/Olympus"}):
        err = error(
            await client.post("/v1/master-links", json={"integration_id": "int-jamf-1", "schedule": bad}),
            422,
            "invalid_body",
        )
        assert err["details"][0]["field"].startswith("schedule.")


async def test_sync_now_carries_the_credentials_and_a_wrong_key_fails_the_run_clearly(
    app, client, tap
) -> None:
    await client.post("/v1/integrations", json=INTUNE)
    link = (await client.post("/v1/master-links", json={"integration_id": "int-intune-2"})).json()
    resp = await client.post(f"/v1/master-links/{link['master_link_id']}/sync", json={"dry_run": True})
    assert resp.status_code == 202, resp.text
    run = resp.json()
    assert (run["trigger"], run["dry_run"], run["status"]) == ("manual", True, "requested")
    requests_tap = await tap(topics.SYNC_REQUESTS)
    records = await requests_tap.take(2)
    manual = decode_request(records[1])
    assert manual.dry_run is True and manual.credentials is not None
    assert (
        KeyRing.parse(KEY).decrypt_json(manual.credentials.ciphertext)["client_secret"]
        == INTUNE["client_secret"]
    )

    # The API's key changed without the old one kept: the run fails at once, saying why.
    app.state.ledger.sync_requests.keys = KeyRing.parse(Fernet.generate_key().decode())
    failed = (await client.post(f"/v1/master-links/{link['master_link_id']}/sync")).json()
    assert failed["status"] == "failed" and "cannot be decrypted" in failed["error"]
    assert "int-intune-2" in failed["error"] and KEY not in failed["error"]
    assert len(await requests_tap.read_to_end()) == 2  # nothing published for the failed run
    # An integration without stored credentials: the connector's integrations file is used.
    seeded = (await client.post("/v1/master-links/ml-intune-1/sync")).json()
    assert seeded["status"] == "requested"


async def test_unlink_requires_keep_devices_publishes_the_command_and_removes_the_link(
    client, tap, error, project
) -> None:
    for bad in ("", "?keep_devices=maybe", "?keep_devices=1"):
        err = error(await client.delete(f"/v1/master-links/ml-intune-1{bad}"), 400, "invalid_parameter")
        assert "keep_devices" in err["message"] and err["details"][0]["field"] == "keep_devices"
    assert (await client.get("/v1/master-links/ml-intune-1")).json()["status"] == "active"

    resp = await client.delete("/v1/master-links/ml-intune-1?keep_devices=true")
    assert resp.status_code == 202, resp.text
    body = resp.json()
    assert body["status"] == "accepted" and body["keep_devices"] is True
    assert (body["master_link_id"], body["integration_id"]) == ("ml-intune-1", "int-intune-1")
    [record] = await (await tap(topics.COMMANDS)).take(1)
    command = codec.decode(codec.command_adapter, record.value)
    assert isinstance(command, UnlinkMasterLink) and record.key == b"acme"
    assert (command.master_link_id, command.integration_id, command.keep_devices) == (
        "ml-intune-1",
        "int-intune-1",
        True,
    )
    assert str(command.event_id) == body["command_id"]

    gone = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert (
        gone["status"] == "removed"
        and gone["keep_devices"] is True
        and gone["schedule"]["next_run_at"] is None
    )
    assert (await client.get("/v1/master-links")).json()["items"] == []
    assert [
        m["master_link_id"]
        for m in (await client.get("/v1/master-links?include_removed=true")).json()["items"]
    ] == ["ml-intune-1"]
    assert (await client.get("/v1/integrations/int-intune-1")).json()["state"] == "untested"  # never synced
    error(await client.delete("/v1/master-links/ml-intune-1?keep_devices=false"), 409, "already_removed")
    error(await client.post("/v1/master-links/ml-intune-1/sync"), 409, "removed")
    error(await client.delete("/v1/master-links/nope?keep_devices=false"), 404, "not_found")
    # Runs of the removed link stay readable; the integration can be linked again.
    await project(sync_run_summary("acme", uuid.uuid4(), "completed", seen=1))
    assert (await client.get("/v1/sync-runs?master_link_id=ml-intune-1")).json()["items"]
    again = await client.post("/v1/master-links", json={"integration_id": "int-intune-1"})
    assert again.status_code == 201 and again.json()["master_link_id"] != "ml-intune-1"


async def test_delete_keep_devices_false_is_published_as_such(client, tap) -> None:
    resp = await client.delete("/v1/master-links/ml-intune-1?keep_devices=false")
    assert resp.status_code == 202 and resp.json()["keep_devices"] is False
    [record] = await (await tap(topics.COMMANDS)).take(1)
    assert codec.decode(codec.command_adapter, record.value).keep_devices is False


async def test_when_the_broker_refuses_nothing_is_created_or_removed(app, client, db, error) -> None:
    state = app.state.ledger
    producer, state.producer = state.producer, None
    try:
        error(
            await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"}),
            503,
            "broker_unavailable",
        )
        error(
            await client.delete("/v1/master-links/ml-intune-1?keep_devices=true"), 503, "broker_unavailable"
        )
        error(await client.post("/v1/master-links/ml-intune-1/sync"), 503, "broker_unavailable")
    finally:
        state.producer = producer
    assert await db.fetchval("SELECT count(*) FROM ledger.master_links") == 1
    assert await db.fetchval("SELECT count(*) FROM ledger.sync_runs") == 0
    assert (await client.get("/v1/master-links/ml-intune-1")).json()["status"] == "active"


async def test_sync_runs_filter_by_trigger_and_master_link_newest_first(client, error) -> None:
    await client.post("/v1/master-links/ml-intune-1/sync")
    link = (await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"})).json()
    await client.post(f"/v1/master-links/{link['master_link_id']}/sync")
    runs = (await client.get("/v1/sync-runs")).json()["items"]
    assert [r["trigger"] for r in runs] == ["manual", "link_created", "manual"]  # newest first
    created = (await client.get("/v1/sync-runs?trigger=link_created")).json()["items"]
    assert [r["master_link_id"] for r in created] == [link["master_link_id"]]
    mine = (await client.get(f"/v1/sync-runs?master_link_id={link['master_link_id']}&limit=1")).json()
    rest = (
        await client.get(
            f"/v1/sync-runs?master_link_id={link['master_link_id']}&cursor={mine['next_cursor']}"
        )
    ).json()
    assert [r["trigger"] for r in mine["items"] + rest["items"]] == ["manual", "link_created"]
    assert rest["next_cursor"] is None
    error(await client.get("/v1/sync-runs?trigger=cron"), 400, "invalid_parameter")
    error(await client.get("/v1/sync-runs?cursor=bm90LWpzb24"), 400, "invalid_parameter")


# --- tenancy ------------------------------------------------------------------------------------


async def test_another_tenant_sees_none_of_it(client, globex, error) -> None:
    await client.post("/v1/integrations", json=INTUNE)
    link = (await client.post("/v1/master-links", json={"integration_id": "int-intune-2"})).json()
    run_id = link["sync_run"]["sync_run_id"]
    lid = link["master_link_id"]
    error(await globex.get("/v1/integrations/int-intune-2"), 404, "not_found")
    error(await globex.get(f"/v1/master-links/{lid}"), 404, "not_found")
    error(await globex.delete(f"/v1/master-links/{lid}?keep_devices=false"), 404, "not_found")
    error(await globex.post(f"/v1/master-links/{lid}/sync"), 404, "not_found")
    error(await globex.get(f"/v1/sync-runs/{run_id}"), 404, "not_found")
    error(await globex.post("/v1/master-links", json={"integration_id": "int-intune-2"}), 404, "not_found")
    for path in (
        "/v1/integrations",
        "/v1/master-links?include_removed=true",
        f"/v1/sync-runs?master_link_id={lid}",
    ):
        assert (await globex.get(path)).json()["items"] == [], path
    # The same integration id in another tenant is another integration.
    theirs = await globex.post("/v1/integrations", json=INTUNE | {"display_name": "Globex Intune"})
    assert theirs.status_code == 201
    mine = (await client.get("/v1/integrations/int-intune-2")).json()
    assert mine["display_name"] == "Contoso Intune" and mine["state"] == "master_linked"
    assert (await client.get(f"/v1/master-links/{lid}")).json()["status"] == "active"


# --- operations ----------------------------------------------------------------------------------


async def test_metrics_count_sync_requests_and_runs_by_status(app, client, anon) -> None:
    ticks = app.state.ledger.metrics.scheduler_ticks
    await wait_for(lambda: _async_true(ticks._value.get() >= 1))  # the tick at start-up
    await client.post("/v1/master-links/ml-intune-1/sync")
    await client.post("/v1/master-links/ml-intune-1/sync")
    text = (await anon.get("/metrics")).text
    assert 'ledger_api_sync_requests_total{outcome="requested",trigger="manual"} 2.0' in text
    assert 'ledger_api_sync_runs{status="requested"} 2.0' in text
    assert 'ledger_api_sync_runs{status="failed"} 0.0' in text
    assert "ledger_api_scheduler_ticks_total 1.0" in text
    assert "ledger_api_scheduler_last_tick_timestamp_seconds" in text
    assert "ledger_api_projection_lag_records" in text
    openapi = (await anon.get("/openapi.json")).json()
    create = openapi["paths"]["/v1/integrations"]["post"]
    assert {"201", "409", "422", "503"} <= set(create["responses"])
    schemas = openapi["components"]["schemas"]
    assert schemas["NewIntuneIntegration"]["properties"]["client_secret"]["writeOnly"] is True
    assert schemas["NewJamfIntegration"]["examples"] and schemas["NewMasterLink"]["examples"]
    keep = next(
        p
        for p in openapi["paths"]["/v1/master-links/{master_link_id}"]["delete"]["parameters"]
        if p["name"] == "keep_devices"
    )
    assert keep["required"] is True and keep["schema"]["enum"] == ["true", "false"]


# --- bootstrap and key rotation ---------------------------------------------------------------


async def test_bootstrap_seeds_credentials_sealed_and_rotation_reseals_them(
    database_url: str, kafka: tuple[str, str], tmp_path: Path
) -> None:
    old = Fernet.generate_key().decode()
    new = Fernet.generate_key().decode()
    secret = "seeded-Secret~0003"
    path = tmp_path / "bootstrap.json"
    tenant = {
        "tenant_id": "seedco",
        "name": "Seed Co",
        "api_tokens": ["seed-token-0123456789"],
        "integrations": [
            {
                "integration_id": "int-seed",
                "kind": "intune",
                "credentials": {"azure_tenant_id": "t", "client_id": "c", "client_secret": secret},
            }
        ],
        "master_links": [
            {
                "master_link_id": "ml-seed",
                "integration_id": "int-seed",
                "mdm_kind": "intune",
                "schedule": {"local_time": "07:30", "time_zone": "Europe/Paris"},
            }
        ],
    }
    path.write_text(json.dumps({"tenants": [tenant]}))
    bootstrap_server, prefix = kafka
    base = Settings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap_server,
        topic_prefix=prefix,
        bootstrap_file=path,
        projection_enabled=False,
        scheduler_enabled=False,
    )
    keyless = build_app(base)
    with pytest.raises(ValueError, match="carry credentials but LEDGER_API_SECRETS_KEY is not set"):
        async with keyless.router.lifespan_context(keyless):
            pass

    async def start_and_read(keys: str) -> dict[str, Any]:
        app = build_app(base.model_copy(update={"secrets_key": SecretStr(keys)}))
        async with app.router.lifespan_context(app):
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app),
                base_url="http://ledger",
                headers={"Authorization": "Bearer seed-token-0123456789"},
            ) as c:
                integration = (await c.get("/v1/integrations/int-seed")).json()
                link = (await c.get("/v1/master-links/ml-seed")).json()
        conn = await asyncpg.connect(database_url)
        try:
            row = await conn.fetchrow("SELECT credentials, credentials_key_id FROM ledger.integrations")
        finally:
            await conn.close()
        return {"integration": integration, "link": link, "row": row}

    first = await start_and_read(old)
    assert (
        first["integration"]["has_secret"] is True and first["integration"]["connection"]["client_id"] == "c"
    )
    assert (
        first["link"]["schedule"]["local_time"] == "07:30"
        and first["link"]["schedule"]["time_zone"] == "Europe/Paris"
    )
    assert first["row"]["credentials_key_id"] == KeyRing.parse(old).key_id
    assert KeyRing.parse(old).decrypt_json(first["row"]["credentials"])["client_secret"] == secret

    # Rotation: the new key first, the old one kept; start-up reseals under the new key.
    path.write_text(
        json.dumps(
            {"tenants": [tenant | {"integrations": [tenant["integrations"][0] | {"credentials": None}]}]}
        )
    )
    second = await start_and_read(f"{new},{old}")
    assert second["row"]["credentials_key_id"] == KeyRing.parse(new).key_id
    assert KeyRing.parse(new).decrypt_json(second["row"]["credentials"])["client_secret"] == secret
    assert second["integration"]["has_secret"] is True  # a seed without credentials keeps the stored ones


async def test_a_bad_bootstrap_file_names_fields_never_secrets(tmp_path: Path) -> None:
    path = tmp_path / "b.json"
    path.write_text(
        json.dumps(
            {
                "tenants": [
                    {
                        "tenant_id": "x",
                        "name": "X",
                        "api_tokens": ["short-tok"],
                        "integrations": [
                            {
                                "integration_id": "i",
                                "kind": "jamf_pro",
                                "credentials": {"password": "Leaky-Pass-99"},
                            }
                        ],
                    }
                ]
            }
        )
    )
    with pytest.raises(ValueError) as info:
        bootstrap.read_bootstrap_file(path)
    assert "api_tokens" in str(info.value) and "credentials" in str(info.value)
    assert "short-tok" not in str(info.value) and "Leaky-Pass-99" not in str(info.value)


async def test_a_second_live_link_for_one_integration_is_refused_by_the_database(database_url: str) -> None:
    pool = await db.create_pool(database_url, min_size=1, max_size=2)
    try:
        await db.apply_migrations(pool)
        data = bootstrap.BootstrapFile.model_validate(
            {
                "tenants": [
                    {
                        "tenant_id": "t",
                        "name": "T",
                        "integrations": [{"integration_id": "i", "kind": "intune"}],
                        "master_links": [
                            {"master_link_id": "a", "integration_id": "i", "mdm_kind": "intune"},
                            {"master_link_id": "b", "integration_id": "i", "mdm_kind": "intune"},
                        ],
                    }
                ]
            }
        )
        with pytest.raises(ValueError, match="already has a live master link"):
            await bootstrap.seed(pool, data)
        assert await pool.fetchval("SELECT count(*) FROM ledger.master_links") == 0
    finally:
        await pool.close()


async def test_the_scheduler_of_the_app_triggers_a_due_link_once(settings: Settings, tap, db) -> None:
    """The scheduler runs inside the API process with its injectable clock (no sleeping for a day)."""
    now = [datetime.now(UTC)]
    app = build_app(settings.model_copy(update={"scheduler_interval_seconds": 0.05}), clock=lambda: now[0])
    async with app.router.lifespan_context(app):
        first = await db.fetchval(
            "SELECT next_run_at FROM ledger.master_links WHERE master_link_id = 'ml-intune-1'"
        )
        assert first is not None and first > now[0]
        now[0] = first + timedelta(days=3, minutes=1)  # three mornings missed

        async def one_run() -> int:
            return int(await db.fetchval("SELECT count(*) FROM ledger.sync_runs WHERE trigger = 'schedule'"))

        await wait_for(one_run)
        ticks = app.state.ledger.metrics.scheduler_ticks._value.get()
        await wait_for(lambda: _async_true(app.state.ledger.metrics.scheduler_ticks._value.get() > ticks + 3))
        assert await one_run() == 1
        [record] = await (await tap(topics.SYNC_REQUESTS)).take(1)
        assert decode_request(record).trigger == "schedule"
        nxt = await db.fetchval(
            "SELECT next_run_at FROM ledger.master_links WHERE master_link_id = 'ml-intune-1'"
        )
        assert timedelta(0) < nxt - now[0] <= timedelta(days=1)


async def _async_true(value: bool) -> bool:
    return value
