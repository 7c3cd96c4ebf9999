"""The console against the real ledger API app (in process, over its ASGI interface), with the real
PostgreSQL and broker of the test session: sign-in and session cookie, CSRF, read-only refusals,
connect (secrets never echoed), link with a preview, unlink, CSV import errors, export streamed,
device detail with its history in words (issue 13; R-S1–R-S5, R-C1, R-C2, R-M11)."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from fastapi import FastAPI

from devstack.testing import wait_for
from ledger_api.app import build_app as build_api
from ledger_api.settings import Settings as ApiSettings
from ledger_console.app import build_app
from ledger_console.settings import Settings
from ledger_contracts import (
    Binding,
    FieldChange,
    LedgerDevice,
    LedgerDeviceChanged,
    MdmOnlyFields,
    Provenance,
    codec,
    topics,
)

pytestmark = pytest.mark.integration

TOKEN = "console-admin-token-0123456789"
SECRET = "s3cr3t-value-that-must-never-show"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
async def api_app(database_url: str, kafka: tuple[str, str], tmp_path: Path) -> AsyncIterator[FastAPI]:
    bootstrap, prefix = kafka
    path = tmp_path / "bootstrap.json"
    path.write_text(
        json.dumps(
            {
                "tenants": [
                    {
                        "tenant_id": "acme",
                        "name": "Acme",
                        "time_zone": "Asia/Tokyo",
                        "api_tokens": [TOKEN],
                        "integrations": [
                            {"integration_id": "int-intune-1", "kind": "intune", "display_name": "Intune HQ"}
                        ],
                        # Scheduled in the tenant's zone (until the API serves the tenant's settings,
                        # the console reads the zone from here).
                        "master_links": [
                            {
                                "master_link_id": "ml-intune-1",
                                "integration_id": "int-intune-1",
                                "mdm_kind": "intune",
                            }
                        ],
                    }
                ]
            }
        )
    )
    settings = ApiSettings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        bootstrap_file=path,
        command_wait_seconds=1,
        kafka_session_timeout_ms=2000,
        secrets_key=base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        scheduler_enabled=False,
    )
    app = build_api(settings)
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def console(api_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    app = build_app(Settings(api_url="http://ledger"), transport=httpx.ASGITransport(app=api_app))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://console", timeout=30
        ) as client:
            yield client


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


async def sign_in(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    form = await client.get("/signin")
    return await client.post(
        "/signin", data={"token": token, "csrf_token": csrf_of(form.text), "next": "/devices"}
    )


async def csrf(client: httpx.AsyncClient, path: str = "/devices") -> str:
    return csrf_of((await client.get(path)).text)


async def test_sign_in_keeps_the_token_on_the_server(console: httpx.AsyncClient) -> None:
    first = await console.get("/devices")
    assert first.status_code == 303 and first.headers["location"].startswith("/signin")

    bad = await sign_in(console, "wrong-token-0123456789")
    assert bad.status_code == 401 and "ledger_console_session" not in bad.headers.get("set-cookie", "")

    ok = await sign_in(console)
    assert ok.status_code == 303 and ok.headers["location"] == "/devices"
    cookie = ok.headers["set-cookie"]
    assert "ledger_console_session=" in cookie
    assert "httponly" in cookie.lower() and "samesite=strict" in cookie.lower()
    assert "secure" not in cookie.lower()  # plain http here; Secure over TLS
    assert TOKEN not in cookie

    page = await console.get("/devices")
    assert page.status_code == 200
    assert TOKEN not in page.text
    assert "Content-Security-Policy" in page.headers


async def test_the_session_cookie_is_secure_over_tls(api_app: FastAPI) -> None:
    app = build_app(Settings(api_url="http://ledger"), transport=httpx.ASGITransport(app=api_app))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://console") as c:
            ok = await sign_in(c)
    assert ok.status_code == 303
    assert "secure" in ok.headers["set-cookie"].lower()


async def test_sign_in_form_needs_its_csrf_cookie(console: httpx.AsyncClient) -> None:
    r = await console.post("/signin", data={"token": TOKEN, "csrf_token": "forged"})
    assert r.status_code == 403


async def test_every_post_needs_the_session_csrf_token(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    r = await console.post("/links/ml-x/sync", data={})
    assert r.status_code == 403
    r = await console.post("/links/ml-x/sync", data={"csrf_token": "not-the-one"})
    assert r.status_code == 403


@pytest.mark.rule("R-A3")
async def test_read_scope_hides_write_controls_and_refuses_forged_posts(
    console: httpx.AsyncClient, api_app: FastAPI
) -> None:
    """A `read` token (created over the API, issue 10) signs in to a session with no write control;
    its forged POSTs get 403 from the console before anything reaches the API."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as admin:
        created = await admin.post("/v1/tokens", json={"name": "reporting", "scopes": ["read"]})
    assert created.status_code == 201, created.text
    read_token = created.json()["token"]
    signed = await sign_in(console, read_token)
    assert signed.status_code == 303, signed.text
    token = await csrf(console, "/devices")
    devices = (await console.get("/devices")).text
    assert 'id="readonly-banner"' in devices
    assert "/devices/import" not in devices and 'href="/integrations"' not in devices
    for path in ("/devices", "/links", "/runs", "/conflicts", "/integrations", "/audit"):
        page = (await console.get(path)).text
        assert re.findall(r'<form method="post" action="([^"]+)"', page) == ["/signout"], path
    for path, data in [
        ("/integrations", {"kind": "intune"}),
        ("/links", {"integration_id": "int-intune-1"}),
        ("/links/ml-intune-1/sync", {}),
        ("/links/ml-intune-1/unlink", {"keep_devices": "true"}),
        ("/conflicts/c/resolve", {"resolution": "ignore"}),
    ]:
        r = await console.post(path, data={"csrf_token": token, **data})
        assert r.status_code == 403, path
    r = await console.post("/devices/import", data={"csrf_token": token}, files={"file": ("a.csv", b"x\n")})
    assert r.status_code == 403
    # The API refuses the same writes to that token on its own (R-A3).
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {read_token}"},
    ) as reader:
        assert (await reader.post("/v1/master-links/ml-intune-1/sync", json={})).status_code == 403


@pytest.mark.rule("R-S3", "R-S4")
async def test_connect_link_preview_and_unlink_with_keep(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    token = await csrf(console, "/integrations")
    r = await console.post(
        "/integrations",
        data={
            "csrf_token": token,
            "kind": "intune",
            "integration_id": "int-console",
            "display_name": "Console Intune",
            "azure_tenant_id": str(uuid.uuid4()),
            "client_id": str(uuid.uuid4()),
            "client_secret": SECRET,
        },
    )
    assert r.status_code == 303, r.text
    page = (await console.get("/integrations")).text
    assert "Console Intune" in page and SECRET not in page
    assert "Not tested" in page  # R-A1: connected (連携済) only after a successful test or sync

    # R-A1: the secret is rotated in place, never echoed.
    rotated = await console.post(
        "/integrations/int-console/secret",
        data={"csrf_token": token, "field": "client_secret", "secret": SECRET + "-2"},
    )
    assert rotated.status_code == 200 and "The secret was replaced" in rotated.text
    assert SECRET not in rotated.text
    # A failing connect keeps the non-secret values and never echoes the secret.
    bad = await console.post(
        "/integrations",
        data={
            "csrf_token": token,
            "kind": "intune",
            "integration_id": "int-console",
            "client_secret": SECRET,
        },
    )
    assert bad.status_code in (409, 422) and SECRET not in bad.text

    form = {
        "csrf_token": token,
        "integration_id": "int-console",
        "mdm_key": "serial_number",
        "ledger_key": "asset_number",
        "asset_number_source": "device_name",
        "local_time": "07:30",
        "time_zone": "Asia/Tokyo",
    }
    preview = await console.post("/links/preview", data=form)
    assert preview.status_code == 200
    assert 'id="execute"' in preview.text and "07:30" in preview.text
    # The preview created nothing.
    assert "int-console" not in (await console.get("/links")).text

    created = await console.post("/links", data=form)
    assert created.status_code == 303 and created.headers["location"].startswith("/runs/")
    run_page = await console.get(created.headers["location"])
    assert run_page.status_code == 200 and 'id="run-status"' in run_page.text
    links = (await console.get("/links")).text
    assert "int-console" in links or ("Console Intune" in links and "07:30" in links)
    link_id = re.search(r'data-link="([^"]+)"', links)
    assert link_id
    dialog = await console.get(f"/links/{link_id.group(1)}/unlink")
    assert "Keep all synced devices" in dialog.text and "Delete the synced devices" in dialog.text
    no_choice = await console.post(f"/links/{link_id.group(1)}/unlink", data={"csrf_token": token})
    assert no_choice.status_code == 422  # the choice is never defaulted
    keep = await console.post(
        f"/links/{link_id.group(1)}/unlink", data={"csrf_token": token, "keep_devices": "true"}
    )
    assert keep.status_code == 303 and "notice=unlinked" in keep.headers["location"]
    assert "removed" in (await console.get("/links?removed=1")).text
    # R-A4: every one of those actions is in the audit log page, no secret in it.
    audit = await console.get("/audit")
    assert audit.status_code == 200
    for action in ("integration.create", "master_link.create", "master_link.unlink"):
        assert action in audit.text, action
    assert SECRET not in audit.text
    assert "integration.create" not in (await console.get("/audit?action=master_link.unlink")).text


async def test_japanese_by_accept_language_and_switchable(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    ja = await console.get("/devices", headers={"Accept-Language": "ja,en;q=0.8"})
    assert "デバイス台帳" in ja.text and "ソース" in ja.text and "表示項目" in ja.text
    switched = await console.get("/lang/en?next=/integrations", headers={"Accept-Language": "ja"})
    assert switched.status_code == 303 and switched.headers["location"] == "/integrations"
    en = await console.get("/integrations", headers={"Accept-Language": "ja"})
    assert "Integrations" in en.text and "連携済" not in en.text
    evil = await console.get("/lang/ja?next=//evil.example/")
    assert evil.headers["location"] == "/devices"


@pytest.mark.rule("R-C1", "R-C2")
async def test_csv_import_shows_row_numbered_errors_and_export_streams(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    token = await csrf(console, "/devices/import")
    bad_csv = b"asset_number,serial_number,bogus_column\nPC-1,SN1,x\n"
    r = await console.post(
        "/devices/import", data={"csrf_token": token}, files={"file": ("bad.csv", bad_csv, "text/csv")}
    )
    assert r.status_code == 422
    assert 'id="import-errors"' in r.text and "bogus_column" in r.text
    good = b"asset_number,serial_number\nPC-1,SN1\nPC-2,SN2\n"
    r = await console.post(
        "/devices/import",
        data={"csrf_token": token, "validate_only": "1"},
        files={"file": ("good.csv", good, "text/csv")},
    )
    assert r.status_code == 200 and "create 2" in r.text
    export = await console.get("/devices/export.csv")
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.text.splitlines()[0].startswith("device_id")


@pytest.mark.rule("R-M11", "R-S1", "R-I8")
async def test_device_detail_explains_its_history(
    console: httpx.AsyncClient, api_app: FastAPI, kafka: tuple[str, str]
) -> None:
    """R-M11 in words, in the tenant's zone (Asia/Tokyo): 21:00 UTC is 06:00 the next morning."""
    state = api_app.state.ledger
    await wait_for(_running(state), timeout=30)
    bootstrap, prefix = kafka
    device_id = uuid.uuid4()
    at = datetime(2026, 11, 28, 21, 0, tzinfo=UTC)
    device = LedgerDevice(
        device_id=device_id,
        tenant_id="acme",
        version=2,
        source="intune",
        asset_number="PC-0042",
        serial_number="SN-42",
        assigned_user="bob@example.com",
        binding=Binding(integration_id="int-intune-1", mdm_kind="intune", mdm_device_id="mdm-42"),
        mdm=MdmOnlyFields(device_name="LAPTOP-42", mdm_device_id="mdm-42", disk_capacity_gb=256.0),
        created_at=at,
        updated_at=at,
    )
    change = LedgerDeviceChanged(
        tenant_id="acme",
        occurred_at=at,
        change="updated",
        device_id=device_id,
        version=2,
        changes=(
            FieldChange(
                field="assigned_user", before="alice@example.com", after="bob@example.com", rule="mdm_first"
            ),
        ),
        provenance=Provenance(actor="sync", integration_id="int-intune-1", sync_run_id=uuid.uuid4()),
        device=device,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        key, value = codec.encode(change)
        await producer.send_and_wait(topics.named(topics.CHANGES, prefix), value=value, key=key)
    finally:
        await producer.stop()
    await sign_in(console)

    async def shown() -> httpx.Response | None:
        r = await console.get(f"/devices/{device_id}")
        return r if r.status_code == 200 else None

    page = await wait_for(shown, timeout=30)
    text = page.text
    assert "LAPTOP-42" in text  # the MDM-only section of a bound device
    assert "Updated by the Microsoft Intune (Intune HQ) sync of 06:00" in text
    assert "MDM-first for the assigned user, R-I6" in text
    assert "2026-11-29 06:00" in text
    ledger = (await console.get("/devices?source=intune")).text
    assert "PC-0042" in ledger and 'class="badge source-intune"' in ledger
    # Filters (R-S1): source, free text, OS prefix, missing from MDM.
    assert "PC-0042" not in (await console.get("/devices?source=manual")).text
    assert "PC-0042" in (await console.get("/devices?q=sn-42")).text
    assert "PC-0042" not in (await console.get("/devices?q=nothing-like-it")).text
    assert "PC-0042" not in (await console.get("/devices?missing=1")).text
    # The column chooser (表示項目) is remembered in a cookie.
    chosen = await console.get("/devices?setcols=1&col=serial_number&col=source")
    assert chosen.status_code == 200 and "ledger_console_columns=" in chosen.headers["set-cookie"]
    later = (await console.get("/devices")).text
    headers = re.findall(r'<th scope="col" data-col="([a-z_]+)"', later)
    assert headers == ["serial_number", "source"]


def _running(state: Any) -> Any:
    async def predicate() -> bool:
        consumer = getattr(state, "consumer", None)
        return bool(consumer and consumer.running)

    return predicate


async def test_no_page_asks_for_more_than_one_page_of_devices(api_app: FastAPI) -> None:
    """Issue 13: every page works at 100,000 devices. The console never asks the API for more
    rows than the page shows (limit ≤ 200) and never for the device list without a limit."""
    seen: list[httpx.Request] = []
    inner = httpx.ASGITransport(app=api_app)

    class Spy(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return await inner.handle_async_request(request)

    app = build_app(Settings(api_url="http://ledger"), transport=Spy())
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
            await sign_in(c)
            for path in (
                "/devices",
                "/devices?limit=200&sort=-updated_at",
                "/integrations",
                "/links",
                "/runs",
                "/conflicts",
            ):
                assert (await c.get(path)).status_code == 200, path
            await asyncio.sleep(0)  # lets the other clients of the loop run between pages
    lists = [r for r in seen if r.url.path == "/v1/devices"]
    assert lists
    for r in lists:
        assert 1 <= int(r.url.params["limit"]) <= 200, r.url


@pytest.mark.rule("R-A2", "R-M7")
async def test_schedule_pause_and_a_planned_settings_change(console: httpx.AsyncClient) -> None:
    await sign_in(console)
    token = await csrf(console, "/links/ml-intune-1/edit")
    r = await console.post(
        "/links/ml-intune-1/schedule",
        data={"csrf_token": token, "local_time": "07:45", "time_zone": "Asia/Tokyo"},
    )
    assert r.status_code == 303 and "notice=schedule" in r.headers["location"]
    links = (await console.get("/links")).text
    assert "07:45" in links and "Next sync" in links

    r = await console.post("/links/ml-intune-1/pause", data={"csrf_token": token})
    assert r.status_code == 303
    links = (await console.get("/links")).text
    assert 'id="paused-badge"' in links and "button.sync-now" not in links and 'class="resume"' in links
    r = await console.post("/links/ml-intune-1/resume", data={"csrf_token": token})
    assert r.status_code == 303 and 'id="paused-badge"' not in (await console.get("/links")).text

    same = await console.post(
        "/links/ml-intune-1/plan",
        data={
            "csrf_token": token,
            "mdm_key": "serial_number",
            "ledger_key": "serial_number",
            "asset_number_source": "uuid",
        },
    )
    assert same.status_code == 422  # nothing to plan
    planned = await console.post(
        "/links/ml-intune-1/plan",
        data={
            "csrf_token": token,
            "mdm_key": "device_name",
            "ledger_key": "asset_number",
            "asset_number_source": "uuid",
        },
    )
    assert planned.status_code == 303, planned.text
    page = await console.get(planned.headers["location"])
    assert page.status_code == 200
    assert "Device name ↔ Asset number" in page.text and 'id="plan-live"' in page.text
    assert 'id="apply-plan"' not in page.text  # not before its dry run is complete


@pytest.mark.rule("R-A3")
async def test_a_revoked_token_ends_its_session(console: httpx.AsyncClient, api_app: FastAPI) -> None:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=api_app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {TOKEN}"},
    ) as admin:
        created = (await admin.post("/v1/tokens", json={"name": "temp", "scopes": ["admin"]})).json()
        assert (await sign_in(console, created["token"])).status_code == 303
        assert (await console.get("/devices")).status_code == 200
        revoked = await admin.delete(f"/v1/tokens/{created['token_id']}")
        assert revoked.status_code in (200, 204), revoked.text
    after = await console.get("/devices")
    assert after.status_code == 303 and after.headers["location"] == "/signin"
    assert (await console.get("/devices")).headers["location"].startswith("/signin")  # the session is gone


async def test_a_csv_over_the_limit_is_refused_whole(api_app: FastAPI) -> None:
    app = build_app(
        Settings(api_url="http://ledger", import_max_bytes=32), transport=httpx.ASGITransport(app=api_app)
    )
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://c") as c:
            await sign_in(c)
            token = await csrf(c, "/devices/import")
            big = b"asset_number\n" + b"PC-1\n" * 10
            r = await c.post("/devices/import", data={"csrf_token": token}, files={"file": ("big.csv", big)})
    assert r.status_code == 413 and "too large" in r.text
