"""R-C4 (issue 10 item 5): edit a custom field (label, required, choices) and delete it. Choices
that values in use no longer satisfy are refused (409 naming the values and device counts); a
deletion that takes values away needs `?confirm_devices_losing_value=<count>`, then the reconciler
removes each value with its history. Audited (R-A4). Real PostgreSQL, broker and reconciler."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devstack.testing import wait_for

pytestmark = pytest.mark.integration

Error = Callable[[httpx.Response, int, str], dict[str, Any]]


@pytest.mark.rule("R-C4", "R-A4")
async def test_edit_and_delete_a_custom_field_with_values(
    client: httpx.AsyncClient, globex: httpx.AsyncClient, reconciler: Any, error: Error
) -> None:
    created = await client.post(
        "/v1/custom-fields",
        json={"name": "site", "type": "text", "label": "Site", "choices": ["Tokyo", "Osaka"]},
    )
    assert created.status_code == 201, created.text
    assert created.json()["choices"] == ["Tokyo", "Osaka"] and created.json()["label"] == "Site"
    error(
        await client.post("/v1/custom-fields", json={"name": "n", "type": "number", "choices": ["1"]}),
        422,
        "invalid_body",
    )

    ids = []
    for asset, site in (("A-1", "Tokyo"), ("A-2", "Tokyo"), ("A-3", "Osaka"), ("A-4", None)):
        body: dict[str, Any] = {"asset_number": asset}
        if site:
            body["custom_fields"] = {"site": site}
        resp = await client.post("/v1/devices", json=body)
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()["device_id"])
    err = error(
        await client.post("/v1/devices", json={"asset_number": "A-5", "custom_fields": {"site": "Kyoto"}}),
        422,
        "invalid_custom_fields",
    )
    assert "not one of" in err["message"]

    # choices that a value in use no longer satisfies: refused, naming the value and its devices
    err = error(
        await client.patch("/v1/custom-fields/site", json={"choices": ["Tokyo"]}), 409, "choices_in_use"
    )
    assert err["details"] == {"name": "site", "devices": 1, "values": [{"value": "Osaka", "devices": 1}]}
    edited = await client.patch(
        "/v1/custom-fields/site",
        json={"label": "Office", "required": True, "choices": ["Tokyo", "Osaka", "Nagoya"]},
    )
    assert edited.status_code == 200, edited.text
    assert (edited.json()["label"], edited.json()["required"], edited.json()["choices"]) == (
        "Office",
        True,
        ["Tokyo", "Osaka", "Nagoya"],
    )
    error(await client.patch("/v1/custom-fields/site", json={"type": "number"}), 422, "invalid_body")
    error(await client.patch("/v1/custom-fields/site", json={}), 422, "empty_patch")
    error(await client.patch("/v1/custom-fields/nope", json={"label": "x"}), 404, "not_found")

    # tenant isolation
    error(await globex.patch("/v1/custom-fields/site", json={"label": "x"}), 404, "not_found")
    error(await globex.delete("/v1/custom-fields/site"), 404, "not_found")

    # delete: 409 with the count, a stale count is refused, the right one deletes
    err = error(await client.delete("/v1/custom-fields/site"), 409, "custom_field_in_use")
    assert err["details"]["devices_losing_value"] == 3
    error(
        await client.delete("/v1/custom-fields/site", params={"confirm_devices_losing_value": 2}),
        409,
        "custom_field_in_use",
    )
    gone = await client.delete("/v1/custom-fields/site", params={"confirm_devices_losing_value": 3})
    assert gone.status_code == 200, gone.text
    assert gone.json() == {"name": "site", "deleted": True, "devices_losing_value": 3}
    assert (await client.get("/v1/custom-fields")).json()["items"] == []

    async def emptied() -> bool:
        for device_id in ids:
            device = (await client.get(f"/v1/devices/{device_id}")).json()
            if "site" in device["custom_fields"]:
                return False
        return True

    await wait_for(emptied, timeout=30)
    history = (await client.get(f"/v1/devices/{ids[2]}/history")).json()["items"]
    [removed] = [c for c in history[0]["changes"] if c["field"] == "custom_fields.site"]
    assert (removed["before"], removed["after"], removed["rule"]) == ("Osaka", None, "manual")

    # a field without values goes at once
    assert (
        await client.post("/v1/custom-fields", json={"name": "spare", "type": "boolean"})
    ).status_code == 201
    assert (await client.delete("/v1/custom-fields/spare")).status_code == 200

    log = (await client.get("/v1/audit-log", params={"target_type": "custom_field"})).json()["items"]
    assert [(e["action"], e["target_id"]) for e in log] == [
        ("custom_field.delete", "spare"),
        ("custom_field.create", "spare"),
        ("custom_field.delete", "site"),
        ("custom_field.update", "site"),
        ("custom_field.create", "site"),
    ]
    assert log[2]["before"]["devices_losing_value"] == 3
    assert log[3]["before"] == {"label": "Site", "required": False, "choices": ["Tokyo", "Osaka"]}
