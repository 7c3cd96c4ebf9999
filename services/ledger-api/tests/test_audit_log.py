"""R-A4: the per-tenant audit log over the API (`GET /v1/audit-log`) against real PostgreSQL: who
(token id and name), what, when, before/after; filters, cursor paging, tenancy; no secret ever."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from ledger_api.adapters.repositories import audit
from ledger_api.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-A4")]

INTUNE_SECRET = "intune-Secret~audit~0001"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(Fernet.generate_key().decode())})


async def actions(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    """Token create (read), token create (admin), revoke, tenant update; returns the created tokens."""
    made = []
    for name, scopes in (("reporting", ["read"]), ("temp admin", ["admin"])):
        resp = await client.post("/v1/tokens", json={"name": name, "scopes": scopes})
        assert resp.status_code == 201, resp.text
        made.append(resp.json())
    assert (await client.delete(f"/v1/tokens/{made[1]['token_id']}")).status_code == 204
    assert (await client.patch("/v1/tenant", json={"default_sync_time": "07:15"})).status_code == 200
    return made


async def test_every_admin_action_is_recorded_with_who_what_when_and_before_after(client) -> None:
    started = datetime.now(UTC) - timedelta(seconds=1)
    me = (await client.get("/v1/tokens/current")).json()
    made = await actions(client)
    page = await client.get("/v1/audit-log")
    assert page.status_code == 200, page.text
    items = page.json()["items"]
    assert page.json()["next_cursor"] is None
    assert [(e["action"], e["target_type"], e["target_id"]) for e in items] == [
        ("tenant.update", "tenant", "acme"),
        ("token.revoke", "token", made[1]["token_id"]),
        ("token.create", "token", made[1]["token_id"]),
        ("token.create", "token", made[0]["token_id"]),
    ]
    assert all(e["actor"] == {"token_id": me["token_id"], "name": "bootstrap"} for e in items)
    assert all(started <= datetime.fromisoformat(e["occurred_at"]) <= datetime.now(UTC) for e in items)
    ids = [e["audit_id"] for e in items]
    assert ids == sorted(ids, reverse=True)  # newest first
    revoke = items[1]
    assert revoke["before"]["revoked"] is False and revoke["after"]["revoked"] is True
    assert revoke["after"]["name"] == "temp admin" and revoke["after"]["scopes"] == ["admin"]
    created = items[3]
    assert created["before"] is None and created["after"]["prefix"] == made[0]["prefix"]
    text = page.text
    for token in made:
        assert token["token"] not in text  # the secret is never in the log


async def test_filters_narrow_the_log(client) -> None:
    me = (await client.get("/v1/tokens/current")).json()
    made = await actions(client)

    async def listed(**params: str) -> list[str]:
        resp = await client.get("/v1/audit-log", params=params)
        assert resp.status_code == 200, resp.text
        return [e["action"] for e in resp.json()["items"]]

    assert await listed(action="token.create") == ["token.create", "token.create"]
    assert await listed(target_type="tenant") == ["tenant.update"]
    assert await listed(target_id=made[1]["token_id"]) == ["token.revoke", "token.create"]
    assert await listed(actor_token=me["token_id"], target_type="token", action="token.revoke") == [
        "token.revoke"
    ]
    assert await listed(actor_token=made[0]["token_id"]) == []
    assert await listed(action="nothing.like.this") == []
    everything = (await client.get("/v1/audit-log")).json()["items"]
    newest = everything[0]["occurred_at"]
    assert len(await listed(**{"from": newest})) >= 1
    assert await listed(to=everything[-1]["occurred_at"]) == []  # `to` is exclusive
    assert len(await listed(**{"from": "2000-01-01T00:00:00Z", "to": "2100-01-01T00:00:00+09:00"})) == 4
    assert await listed(**{"from": "2100-01-01T00:00:00Z"}) == []


async def test_cursor_paging_walks_every_entry_once(client, error) -> None:
    await actions(client)
    await actions(client)
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, str] = {"limit": "3"}
        if cursor:
            params["cursor"] = cursor
        body = (await client.get("/v1/audit-log", params=params)).json()
        seen += [e["audit_id"] for e in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    # 4 + 3 entries: the second tenant update changes nothing, so it is not recorded
    assert pages == 3 and len(seen) == 7 and seen == sorted(set(seen), reverse=True)
    filtered = (await client.get("/v1/audit-log", params={"limit": "1", "action": "token.revoke"})).json()
    second = await client.get(
        "/v1/audit-log", params={"cursor": filtered["next_cursor"], "action": "token.revoke"}
    )
    assert [e["action"] for e in second.json()["items"]] == ["token.revoke"]
    assert second.json()["next_cursor"] is None

    for params, name in (
        ({"cursor": "garbage!"}, "cursor"),
        ({"cursor": "eyJ4IjoxfQ"}, "cursor"),  # {"x":1}: decodes, wrong shape
        ({"from": "2026-11-29T08:00:00"}, "from"),  # no offset
        ({"to": "yesterday"}, "to"),
        ({"actor_token": "bootstrap"}, "actor_token"),
        ({"limit": "0"}, "limit"),
        ({"actor": "x"}, "actor"),  # unknown parameter
    ):
        err = error(await client.get("/v1/audit-log", params=params), 400, "invalid_parameter")
        assert name in {d["field"] for d in err["details"]}, (params, err)


async def test_secrets_of_an_integration_never_reach_the_log(client, db) -> None:
    body = {
        "kind": "intune",
        "integration_id": "int-audit",
        "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
        "client_id": "0c4f9b0e-6a51-4b4f-9a8b-3f1b6c2d7e90",
        "client_secret": INTUNE_SECRET,
    }
    assert (await client.post("/v1/integrations", json=body)).status_code == 201
    log = await client.get("/v1/audit-log")
    assert INTUNE_SECRET not in log.text
    rows = await db.fetch("SELECT before::text, after::text FROM ledger.audit_log")
    assert rows and all(INTUNE_SECRET not in (r["before"] or "") + (r["after"] or "") for r in rows)
    # Whatever a handler passes, `record` redacts secret-named keys at any depth.
    await audit.record(
        db,
        "acme",
        audit.Actor("test"),
        "integration.update",
        "integration",
        "int-audit",
        before={"credentials": {"client_secret": "old-S3cret"}},
        after={"connection": {"password": "new-S3cret", "client_id": "c"}},
    )
    entry = (await client.get("/v1/audit-log", params={"action": "integration.update"})).json()["items"][0]
    assert "S3cret" not in str(entry)
    assert entry["after"] == {"connection": {"password": "***", "client_id": "c"}}


async def test_a_tenant_reads_only_its_own_log(client, globex) -> None:
    await actions(client)
    assert (await globex.patch("/v1/tenant", json={"name": "Globex Inc"})).status_code == 200
    acme = (await client.get("/v1/audit-log")).json()["items"]
    other = (await globex.get("/v1/audit-log")).json()["items"]
    assert [e["action"] for e in other] == ["tenant.update"] and other[0]["target_id"] == "globex"
    assert {e["audit_id"] for e in acme}.isdisjoint({e["audit_id"] for e in other})
    acme_ids = [e["target_id"] for e in acme]
    for target in acme_ids:
        assert (await globex.get("/v1/audit-log", params={"target_id": target})).json()["items"] == []
