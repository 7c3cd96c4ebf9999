"""R-A3: API tokens over the API against real PostgreSQL: created with the secret shown once and
stored as its sha256, listed without secret or hash, revoked at once (401 on the very next
request), the last admin token kept, `last_used_at` written at most once a minute, tenancy."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from conftest import TOKENS

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-A3")]


def bearer(app: FastAPI, token: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {token}"},
    )


@pytest.fixture
def as_token(app: FastAPI) -> Callable[[str], httpx.AsyncClient]:
    return lambda token: bearer(app, token)


async def create(client: httpx.AsyncClient, name: str, scopes: list[str]) -> dict[str, Any]:
    resp = await client.post("/v1/tokens", json={"name": name, "scopes": scopes})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


async def test_a_created_token_is_shown_once_stored_hashed_and_listed_without_secret(
    client, db, as_token
) -> None:
    created = await create(client, "reporting", ["read"])
    secret = created["token"]
    assert secret.startswith("dl_") and len(secret) >= 40
    assert created["prefix"] == secret[:8] and created["scopes"] == ["read"]
    assert created["name"] == "reporting" and created["revoked"] is False and created["last_used_at"] is None

    row = dict(await db.fetchrow("SELECT * FROM ledger.api_tokens WHERE token_id = $1", created["token_id"]))
    assert row["token_hash"] == hashlib.sha256(secret.encode()).hexdigest()
    assert secret not in json.dumps(row, default=str)  # only the hash and the 8-character prefix

    listed = (await client.get("/v1/tokens")).json()["items"]
    mine = [t for t in listed if t["token_id"] == created["token_id"]]
    assert mine == [{k: v for k, v in created.items() if k != "token"}]
    assert {t["name"] for t in listed} == {"bootstrap", "reporting"}
    text = (await client.get("/v1/tokens")).text
    assert secret not in text and row["token_hash"] not in text and "token_hash" not in text

    async with as_token(secret) as reporting:
        me = await reporting.get("/v1/tokens/current")
        assert me.status_code == 200, me.text
        assert me.json() == {
            "tenant_id": "acme",
            "token_id": created["token_id"],
            "name": "reporting",
            "scopes": ["read"],
        }
        assert (await reporting.get("/v1/devices")).status_code == 200


async def test_scopes_are_deduplicated_and_bad_bodies_are_422_naming_the_field(client, error) -> None:
    both = await create(client, "ops", ["admin", "read", "admin"])
    assert both["scopes"] == ["read", "admin"]
    for body, field in (
        ({"name": "x", "scopes": ["write"]}, "scopes.0"),
        ({"name": "x", "scopes": []}, "scopes"),
        ({"name": "", "scopes": ["read"]}, "name"),
        ({"scopes": ["read"]}, "name"),
        ({"name": "x", "scopes": ["read"], "secret": "mine"}, "secret"),
    ):
        err = error(await client.post("/v1/tokens", json=body), 422, "invalid_body")
        assert field in {d["field"] for d in err["details"]}, (body, err)


async def test_a_revoked_token_gets_401_on_its_very_next_request(client, as_token, error) -> None:
    created = await create(client, "leaver", ["admin"])
    async with as_token(created["token"]) as leaver:
        assert (await leaver.get("/v1/tokens")).status_code == 200
        assert (await client.delete(f"/v1/tokens/{created['token_id']}")).status_code == 204
        error(await leaver.get("/v1/devices"), 401, "unauthorized")
        error(await leaver.get("/v1/tokens/current"), 401, "unauthorized")
    listed = {t["token_id"]: t for t in (await client.get("/v1/tokens")).json()["items"]}
    assert listed[created["token_id"]]["revoked"] is True and listed[created["token_id"]]["revoked_at"]
    live = (await client.get("/v1/tokens", params={"include_revoked": "false"})).json()["items"]
    assert created["token_id"] not in {t["token_id"] for t in live}
    error(await client.delete(f"/v1/tokens/{created['token_id']}"), 409, "already_revoked")
    error(await client.delete("/v1/tokens/5b0c7a8e-2f7d-4c43-9f7e-0b8f3a1c2d4e"), 404, "not_found")
    error(await client.delete("/v1/tokens/not-a-uuid"), 400, "invalid_parameter")
    error(await client.get("/v1/tokens", params={"limit": "1"}), 400, "invalid_parameter")


async def test_the_last_admin_token_cannot_be_revoked_but_one_of_two_can(client, as_token, error) -> None:
    """Decision: revoking the tenant's last live admin token is refused (409 last_admin_token),
    because nobody could administer the tenant over the API afterwards. A read token is no admin."""
    me = (await client.get("/v1/tokens/current")).json()
    await create(client, "reader", ["read"])
    err = error(await client.delete(f"/v1/tokens/{me['token_id']}"), 409, "last_admin_token")
    assert "last admin token" in err["message"] and err["details"] == {"token_id": me["token_id"]}
    assert (await client.get("/v1/devices")).status_code == 200  # still alive

    second = await create(client, "second admin", ["admin"])
    async with as_token(second["token"]) as admin2:
        assert (
            await admin2.delete(f"/v1/tokens/{me['token_id']}")
        ).status_code == 204  # may revoke the other
        error(await client.get("/v1/devices"), 401, "unauthorized")
        err = error(await admin2.delete(f"/v1/tokens/{second['token_id']}"), 409, "last_admin_token")
        assert (await admin2.get("/v1/tokens/current")).json()["name"] == "second admin"


async def test_last_used_at_is_written_at_most_once_a_minute(app, client, db) -> None:
    state = app.state.ledger
    now = [datetime(2026, 11, 29, 8, 0, tzinfo=UTC)]
    state.clock = lambda: now[0]
    created = await create(client, "meter", ["read"])

    async def last_used() -> datetime | None:
        value: datetime | None = await db.fetchval(
            "SELECT last_used_at FROM ledger.api_tokens WHERE token_id = $1", created["token_id"]
        )
        return value

    async with bearer(app, created["token"]) as meter:
        assert await last_used() is None
        await meter.get("/v1/devices")
        assert await last_used() == now[0]
        first = now[0]
        now[0] = first + timedelta(seconds=59)
        await meter.get("/v1/devices")
        assert await last_used() == first  # within the minute: not written
        now[0] = first + timedelta(seconds=61)
        await meter.get("/v1/devices")
        assert await last_used() == first + timedelta(seconds=61)
        # Another replica (empty memory) within the minute: the UPDATE's own condition keeps it.
        state.tokens_touched.clear()
        now[0] = first + timedelta(seconds=90)
        await meter.get("/v1/devices")
        assert await last_used() == first + timedelta(seconds=61)
    listed = {t["token_id"]: t for t in (await client.get("/v1/tokens")).json()["items"]}
    assert listed[created["token_id"]]["last_used_at"] == "2026-11-29T08:01:01Z"


async def test_a_tenant_sees_and_revokes_only_its_own_tokens(client, globex, error) -> None:
    acme_token = await create(client, "acme reporting", ["read"])
    globex_token = await create(globex, "globex reporting", ["read"])
    acme_listed = {t["token_id"] for t in (await client.get("/v1/tokens")).json()["items"]}
    globex_listed = {t["token_id"] for t in (await globex.get("/v1/tokens")).json()["items"]}
    assert acme_token["token_id"] in acme_listed and acme_token["token_id"] not in globex_listed
    assert globex_token["token_id"] in globex_listed and globex_token["token_id"] not in acme_listed
    error(await globex.delete(f"/v1/tokens/{acme_token['token_id']}"), 404, "not_found")
    acme_me = (await client.get("/v1/tokens/current")).json()["token_id"]
    error(await globex.delete(f"/v1/tokens/{acme_me}"), 404, "not_found")
    listed = {t["token_id"]: t for t in (await client.get("/v1/tokens")).json()["items"]}
    assert listed[acme_token["token_id"]]["revoked"] is False
    me = (await globex.get("/v1/tokens/current")).json()
    assert me["tenant_id"] == "globex" and me["scopes"] == ["admin"]
    assert TOKENS["globex"] not in (await globex.get("/v1/tokens")).text


async def test_two_admins_revoking_each_other_at_once_leave_one_admin(client, as_token, db) -> None:
    """The tenant's row lock serialises revocations: of two simultaneous cross-revocations of the
    last two admin tokens exactly one succeeds, the other is 409 last_admin_token."""
    import asyncio

    me = (await client.get("/v1/tokens/current")).json()
    second = await create(client, "second admin", ["admin"])
    async with as_token(second["token"]) as admin2:
        answers = await asyncio.gather(
            client.delete(f"/v1/tokens/{second['token_id']}"),
            admin2.delete(f"/v1/tokens/{me['token_id']}"),
        )
    codes = sorted(a.status_code for a in answers)
    assert codes == [204, 409], [a.text for a in answers]
    refused = next(a for a in answers if a.status_code == 409)
    assert refused.json()["error"]["code"] == "last_admin_token"
    live_admins = await db.fetchval(
        "SELECT count(*) FROM ledger.api_tokens"
        " WHERE tenant_id = 'acme' AND revoked_at IS NULL AND 'admin' = ANY(scopes)"
    )
    assert live_admins == 1
