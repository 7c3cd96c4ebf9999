"""Issue 11 through the API (real PostgreSQL, broker and reconciler): a Mac reported by Intune and by
Jamf Pro is one device; its detail shows both bindings with their state and each field's origin
(R-P2, R-P3); `/v1/mdm-priority` shows the default order (link creation), refuses unknown
integrations, plans a change (dry run, nothing applied) and applies it: the Mac's source and
MDM-first fields follow Jamf, with history naming the MDM (R-P1); every write is audited (R-A4)."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from devstack.testing import wait_for
from ledger_contracts import MasterLinkSettings, MatchingKey, MdmOnlyFields, ObservedDevice

pytestmark = pytest.mark.integration

JAMF = MasterLinkSettings(
    master_link_id="ml-jamf-1",
    integration_id="int-jamf-1",
    mdm_kind="jamf_pro",
    matching_key=MatchingKey(mdm="serial_number", ledger="serial_number"),
)


async def _links(db: Any) -> None:
    """Two master links, Intune's created first (the default priority)."""
    for n, (integration, kind, link) in enumerate(
        [("int-intune-1", "intune", "ml-intune-1"), ("int-jamf-1", "jamf_pro", "ml-jamf-1")]
    ):
        await db.execute(
            "INSERT INTO ledger.integrations (tenant_id, integration_id, kind) VALUES ('acme', $1, $2) "
            "ON CONFLICT DO NOTHING",  # the bootstrap may have created Intune's
            integration,
            kind,
        )
        await db.execute(
            "INSERT INTO ledger.master_links (tenant_id, master_link_id, integration_id, settings, "
            "created_at) "
            "VALUES ('acme', $1, $2, '{}', now() + $3 * interval '1 second') ON CONFLICT DO NOTHING",
            link,
            integration,
            n,
        )


def _mac(mdm_id: str, serial: str, user: str | None, os: str) -> ObservedDevice:
    return ObservedDevice(
        mdm_device_id=mdm_id,
        serial_number=serial,
        device_name=f"MAC-{serial}",
        os=os,
        manufacturer="Apple",
        model="MacBook Air",
        assigned_user=user,
        mdm=MdmOnlyFields(device_name=f"MAC-{serial}"),
    )


@pytest.mark.rule("R-P1", "R-P2", "R-P3")
async def test_two_mdms_one_device_then_priority_planned_and_applied(
    client: httpx.AsyncClient,
    db: Any,
    mdm_sync: Callable[..., Coroutine[Any, Any, dict[str, Any]]],
    error: Callable[[httpx.Response, int, str], dict[str, Any]],
) -> None:
    await _links(db)
    default = (await client.get("/v1/mdm-priority")).json()
    assert default == {"order": ["int-intune-1", "int-jamf-1"], "per_os_family": {}, "is_default": True}

    await mdm_sync(
        [_mac("m-1", "C02X", "alice@example.com", "macOS (14.4)"), _mac("m-2", "C02Y", None, "macOS")]
    )
    run = await mdm_sync([_mac("computer:1", "C02X", "bob@example.com", "macOS (14.5)")], link=JAMF)
    assert run["counts"]["updated"] == 1 and run["counts"]["conflicts"] == 0, run

    items = (await client.get("/v1/devices")).json()["items"]
    assert sorted(d["serial_number"] for d in items) == ["C02X", "C02Y"]  # once each
    mac_id = next(d["device_id"] for d in items if d["serial_number"] == "C02X")
    mac = (await client.get(f"/v1/devices/{mac_id}")).json()
    assert mac["source"] == "intune" and mac["binding"]["integration_id"] == "int-intune-1"
    (other,) = mac["other_bindings"]
    assert other["binding"] == {
        "integration_id": "int-jamf-1",
        "mdm_kind": "jamf_pro",
        "mdm_device_id": "computer:1",
    }
    assert other["missing_from_mdm"] is False and other["mdm"]["device_name"] == "MAC-C02X"
    assert mac["assigned_user"] == "alice@example.com"
    assert mac["field_origins"]["assigned_user"] == "int-intune-1"

    error(await client.put("/v1/mdm-priority", json={"order": ["int-nope"]}), 422, "invalid_body")
    body = {
        "order": ["int-intune-1", "int-jamf-1"],
        "per_os_family": {"apple": ["int-jamf-1", "int-intune-1"]},
    }
    planned = await client.post("/v1/mdm-priority/plan", json=body)
    assert planned.status_code == 202, planned.text

    async def plan() -> dict[str, Any] | None:
        resp = await client.get(planned.json()["plan"])
        return resp.json() if resp.status_code == 200 else None

    items_planned = (await wait_for(plan, timeout=30))["items"]
    assert [i["device_id"] for i in items_planned] == [mac_id]
    after = {c["field"]: c["after"] for c in items_planned[0]["changes"]}
    assert after["assigned_user"] == "bob@example.com" and after["source"] == "jamf_pro"
    assert (await client.get(f"/v1/devices/{mac_id}")).json()["source"] == "intune"  # nothing applied

    put = await client.put("/v1/mdm-priority", json=body)
    assert put.status_code == 200, put.text
    assert (await client.get("/v1/mdm-priority")).json()["is_default"] is False

    async def applied() -> dict[str, Any] | None:
        d = (await client.get(f"/v1/devices/{mac_id}")).json()
        return d if d["source"] == "jamf_pro" else None

    mac = await wait_for(applied, timeout=30)
    assert mac["assigned_user"] == "bob@example.com" and mac["field_origins"]["assigned_user"] == "int-jamf-1"
    assert mac["binding"]["integration_id"] == "int-jamf-1"
    assert [b["binding"]["integration_id"] for b in mac["other_bindings"]] == ["int-intune-1"]
    history = (await client.get(f"/v1/devices/{mac_id}/history")).json()["items"]
    changes = [c for h in history for c in h["changes"] if c["field"] == "assigned_user"]
    assert {"after": "bob@example.com", "origin_integration_id": "int-jamf-1"}.items() <= changes[0].items()
    actions = [r["action"] for r in await db.fetch("SELECT action FROM ledger.audit_log ORDER BY 1")]
    assert actions == ["mdm_priority.plan", "mdm_priority.set"]


@pytest.mark.rule("R-P1")
async def test_default_priority_is_the_link_order_in_the_api_and_in_the_reconciler(
    client: httpx.AsyncClient, mdm_sync: Callable[..., Coroutine[Any, Any, dict[str, Any]]]
) -> None:
    """Issue 11 item 1 ("default: the order in which they were linked"), one order on both sides:
    Intune's link is seeded by the bootstrap file (older, but never announced to the reconciler),
    Jamf's is created over the API (announced: MasterLinkChanged "created" with the row's
    created_at). The default is Jamf, then Intune; and the reconciler ranks a shared Mac the same
    way although Intune bound it first (it used to keep the order in which the MDMs bound it)."""
    body = {
        "integration_id": "int-jamf-1",
        "master_link_id": "ml-jamf-1",
        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
    }
    created = await client.post("/v1/master-links", json=body)
    assert created.status_code == 201, created.text
    default = (await client.get("/v1/mdm-priority")).json()
    assert default == {"order": ["int-jamf-1", "int-intune-1"], "per_os_family": {}, "is_default": True}

    await mdm_sync([_mac("m-1", "C02X", "alice@example.com", "macOS (14.4)")])
    # The run of the link's own generation waits (R-M12) until its "created" command is applied.
    jamf = JAMF.model_copy(update={"generation": created.json()["generation"]})
    run = await mdm_sync([_mac("computer:1", "C02X", "bob@example.com", "macOS (14.5)")], link=jamf)
    assert run["counts"]["updated"] == 1 and run["counts"]["conflicts"] == 0, run
    (mac,) = (await client.get("/v1/devices")).json()["items"]
    mac = (await client.get(f"/v1/devices/{mac['device_id']}")).json()
    assert mac["source"] == "jamf_pro" and mac["binding"]["integration_id"] == "int-jamf-1"
    assert [b["binding"]["integration_id"] for b in mac["other_bindings"]] == ["int-intune-1"]
    assert mac["assigned_user"] == "bob@example.com" and mac["field_origins"]["assigned_user"] == "int-jamf-1"
