"""R-A3 scopes: a `read` token gets 403 on EVERY write path of the app's OpenAPI document (walked
from the document, so a write path added later is covered without touching this file) and on the
administrative reads; it reads devices, history, runs, conflicts and the CSV export."""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from ledger_api.api.deps import needs_admin
from ledger_api.app import build_app
from ledger_api.settings import Settings

WRITE_METHODS = {"post", "put", "patch", "delete"}
ADMIN_ONLY_READ_PREFIXES = ("/v1/integrations", "/v1/tokens", "/v1/audit-log", "/v1/tenant")


def _document() -> dict[str, Any]:
    return build_app(Settings(database_url=SecretStr("postgresql://openapi-only/none"))).openapi()


def _concrete(path: str) -> str:
    """A path template with every parameter filled (a uuid fits both uuid and string parameters)."""
    return re.sub(r"\{[^}]+\}", str(uuid.UUID(int=7)), path)


def _operations(methods: set[str]) -> list[tuple[str, str]]:
    return sorted(
        (method.upper(), path)
        for path, operations in _document()["paths"].items()
        for method in operations
        if method in methods
    )


@pytest.mark.unit
@pytest.mark.rule("R-A3")
def test_which_requests_need_admin() -> None:
    assert needs_admin("POST", "/v1/devices") and needs_admin("delete", "/v1/master-links/{master_link_id}")
    assert needs_admin("PATCH", "/v1/tenant") and needs_admin("GET", "/v1/tenant")
    assert needs_admin("GET", "/v1/integrations/{integration_id}") and needs_admin("GET", "/v1/audit-log")
    assert needs_admin("GET", "/v1/tokens") and not needs_admin("GET", "/v1/tokens/current")
    assert not needs_admin("GET", "/v1/devices") and not needs_admin("HEAD", "/v1/devices/{device_id}")
    assert not needs_admin("GET", "/v1/integrationsX")  # a prefix is a whole path segment
    assert not needs_admin("GET", "/v1/sync-runs") and not needs_admin("GET", "/v1/devices/export.csv")


@pytest.mark.unit
@pytest.mark.rule("R-A3")
def test_every_v1_operation_documents_the_403() -> None:
    for path, operations in _document()["paths"].items():
        if path.startswith("/v1/"):
            for method, operation in operations.items():
                assert "403" in operation["responses"], (method, path)


@pytest.fixture
async def reader(app: FastAPI, client: httpx.AsyncClient) -> Any:
    resp = await client.post("/v1/tokens", json={"name": "reporting", "scopes": ["read"]})
    assert resp.status_code == 201, resp.text
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://ledger",
        headers={"Authorization": f"Bearer {resp.json()['token']}"},
    ) as c:
        yield c


@pytest.mark.integration
@pytest.mark.rule("R-A3")
async def test_a_read_token_gets_403_on_every_write_path_of_the_openapi_document(
    reader, client, error
) -> None:
    writes = _operations(WRITE_METHODS)
    assert len(writes) >= 10  # the walk is real: devices, CSV, custom fields, integrations, links, …
    assert all(path.startswith("/v1/") for _, path in writes)  # nothing writes outside /v1
    for method, path in writes:
        resp = await reader.request(method, _concrete(path))
        err = error(resp, 403, "forbidden")
        assert "scope 'admin'" in err["message"] and f"{method} {path}" in err["message"], err
        assert err["details"] == {"required_scope": "admin", "token_scopes": ["read"]}
    # Nothing was done on the way: still no integration or link beyond the seeded ones, one reader.
    assert {i["integration_id"] for i in (await client.get("/v1/integrations")).json()["items"]} == {
        "int-intune-1",
        "int-jamf-1",
    }
    assert [t["revoked"] for t in (await client.get("/v1/tokens")).json()["items"]] == [False, False]


@pytest.mark.integration
@pytest.mark.rule("R-A3")
async def test_a_read_token_reads_the_ledger_but_not_the_administrative_resources(reader, error) -> None:
    reads = _operations({"get"})
    admin_only = [
        (m, p) for m, p in reads if p.startswith(ADMIN_ONLY_READ_PREFIXES) and p != "/v1/tokens/current"
    ]
    assert {p for _, p in admin_only} >= {"/v1/integrations", "/v1/tokens", "/v1/audit-log", "/v1/tenant"}
    for method, path in admin_only:
        err = error(await reader.request(method, _concrete(path)), 403, "forbidden")
        assert "scope 'admin'" in err["message"]
    for method, path in reads:
        if path.startswith("/v1/") and (method, path) not in admin_only:
            resp = await reader.request(method, _concrete(path))
            assert resp.status_code != 403, (path, resp.text)
    for path in (
        "/v1/devices",
        "/v1/sync-runs",
        "/v1/conflicts",
        "/v1/devices/export.csv",
        "/v1/master-links",
    ):
        resp = await reader.get(path)
        assert resp.status_code == 200, (path, resp.text)
    assert (await reader.get("/v1/tokens/current")).json()["scopes"] == ["read"]


@pytest.mark.unit
@pytest.mark.rule("R-A3", "R-A4")
def test_the_examples_of_the_token_tenant_and_audit_schemas_are_valid_instances() -> None:
    """The OpenAPI examples of the new paths are exact: each validates against its own model, and
    each new path's operations carry a documented body schema with an example."""
    from ledger_api.api import audit, tenant_settings, tokens

    models = [
        tokens.NewToken,
        tokens.ApiToken,
        tokens.CreatedToken,
        tokens.TokenList,
        tokens.CurrentToken,
        tenant_settings.TenantSettings,
        tenant_settings.TenantSettingsPatch,
        audit.AuditEntry,
        audit.AuditPage,
    ]
    for model in models:
        examples = model.model_json_schema()["examples"]
        assert examples, model.__name__
        for example in examples:
            model.model_validate(example)
    components = _document()["components"]["schemas"]
    for name in ("NewToken", "CreatedToken", "TokenList", "CurrentToken", "TenantSettings", "AuditPage"):
        assert components[name]["examples"], name
