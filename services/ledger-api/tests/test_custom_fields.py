"""Custom fields (R-C4) and required ones (R-M8): definitions, and the checks of manual edits."""

from __future__ import annotations

import pytest

from ledger_contracts import MdmOnlyFields, ObservedDevice, codec, topics

pytestmark = pytest.mark.integration


async def test_definitions_are_per_tenant_unique_and_validated(client, globex, error) -> None:
    assert (await client.get("/v1/custom-fields")).json() == {"items": []}
    for body in (
        {"name": "cost_center", "type": "text", "required": True},
        {"name": "price", "type": "number"},
        {"name": "bought_on", "type": "date"},
        {"name": "leased", "type": "boolean"},
    ):
        resp = await client.post("/v1/custom-fields", json=body)
        assert resp.status_code == 201, resp.text
        assert resp.json()["required"] is body.get("required", False)
    items = (await client.get("/v1/custom-fields")).json()["items"]
    assert [(i["name"], i["type"], i["required"]) for i in items] == [
        ("cost_center", "text", True),
        ("price", "number", False),
        ("bought_on", "date", False),
        ("leased", "boolean", False),
    ]
    err = error(
        await client.post("/v1/custom-fields", json={"name": "price", "type": "text"}),
        409,
        "custom_field_exists",
    )
    assert err["details"] == {"name": "price"}
    for bad in (
        {"name": "Price", "type": "text"},
        {"name": "1st", "type": "text"},
        {"name": "a-b", "type": "text"},
        {"name": "x" * 64, "type": "text"},
        {"name": "colour", "type": "color"},
        {"name": "colour", "type": "text", "mandatory": True},
    ):
        error(await client.post("/v1/custom-fields", json=bad), 422, "invalid_body")
    assert (await globex.get("/v1/custom-fields")).json() == {"items": []}  # another tenant's are not seen
    assert (await globex.post("/v1/custom-fields", json={"name": "price", "type": "date"})).status_code == 201


@pytest.mark.rule("R-C4")
async def test_manual_edits_are_checked_against_the_definitions(client, reconciler, tap, error) -> None:
    for body in (
        {"name": "cost_center", "type": "text", "required": True},
        {"name": "price", "type": "number"},
        {"name": "leased", "type": "boolean"},
    ):
        assert (await client.post("/v1/custom-fields", json=body)).status_code == 201
    commands = await tap(topics.COMMANDS)

    err = error(await client.post("/v1/devices", json={"asset_number": "A-1"}), 422, "invalid_custom_fields")
    assert "cost_center" in err["message"]
    assert err["details"] == [
        {
            "location": "body",
            "field": "custom_fields.cost_center",
            "problem": "required",
            "message": "custom field 'cost_center' is required",
        }
    ]
    err = error(
        await client.post(
            "/v1/devices", json={"custom_fields": {"cost_center": "IT", "colour": "red", "price": "cheap"}}
        ),
        422,
        "invalid_custom_fields",
    )
    assert [(d["field"], d["problem"]) for d in err["details"]] == [
        ("custom_fields.colour", "unknown"),
        ("custom_fields.price", "type"),
    ]
    assert "colour" in err["message"] and "price" in err["message"]
    assert await commands.read_to_end() == []  # nothing refused here reached the reconciler

    created = await client.post(
        "/v1/devices",
        json={
            "asset_number": "A-1",
            "custom_fields": {"cost_center": " IT ", "price": "1.50", "leased": "YES"},
        },
    )
    assert created.status_code == 201, created.text
    device = created.json()
    assert device["custom_fields"] == {"cost_center": "IT", "price": "1.5", "leased": "true"}
    [record] = await commands.take(1)
    assert codec.decode(codec.command_adapter, record.value).fields.custom_fields == device["custom_fields"]

    url = f"/v1/devices/{device['device_id']}"
    err = error(
        await client.patch(url, json={"custom_fields": {"cost_center": None}}), 422, "invalid_custom_fields"
    )
    assert err["details"][0]["problem"] == "required"
    error(await client.patch(url, json={"custom_fields": {"leased": "maybe"}}), 422, "invalid_custom_fields")
    assert len(await commands.read_to_end()) == 1  # the refused edits published nothing
    resp = await client.patch(url, json={"custom_fields": {"price": "", "leased": "0"}})
    assert resp.status_code == 200, resp.text
    assert resp.json()["custom_fields"] == {"cost_center": "IT", "leased": "false"}

    # A taken asset number is refused by the reconciler: the API answers with its reason at once.
    err = error(
        await client.post(
            "/v1/devices", json={"asset_number": "a-1", "custom_fields": {"cost_center": "IT"}}
        ),
        409,
        "asset_number_taken",
    )
    assert "belongs to another device" in err["message"]


@pytest.mark.rule("R-M8")
async def test_a_synced_device_is_created_without_its_required_fields(client, mdm_sync) -> None:
    """R-M8: the sync creates devices even though the tenant has required custom fields."""
    assert (
        await client.post("/v1/custom-fields", json={"name": "cost_center", "type": "text", "required": True})
    ).status_code == 201
    run = await mdm_sync(
        [ObservedDevice(mdm_device_id="m-1", serial_number="SN-1", device_name="PC-1", mdm=MdmOnlyFields())]
    )
    assert run["counts"]["created"] == 1
    [device] = (await client.get("/v1/devices")).json()["items"]
    assert device["source"] == "intune" and device["custom_fields"] == {}
    # Editing something else is not blocked by the empty required field.
    resp = await client.patch(f"/v1/devices/{device['device_id']}", json={"notes": "checked"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["notes"] == "checked"
