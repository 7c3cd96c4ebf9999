"""Device CSV through the API and the real reconciler (R-C1, R-C2, R-M11 provenance `csv`).

Export writes every field; an import is checked whole, then applied all or nothing by the
reconciler as one `ImportDevices` command.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from ledger_api_testing import device_changed

from devstack.testing import wait_for
from ledger_api.domain import device_csv as csvio
from ledger_contracts import CommandRejected, ImportDevices, MdmOnlyFields, ObservedDevice, codec, topics

pytestmark = pytest.mark.integration

CUSTOM = [
    {"name": "cost_center", "type": "text", "required": True},
    {"name": "price", "type": "number"},
    {"name": "purchased_on", "type": "date"},
    {"name": "leased", "type": "boolean"},
]
# Columns a device gets from the ledger itself (ids, source, binding, timestamps) or from its MDM:
# they cannot be carried to another ledger by a file.
NOT_CARRIED = {"device_id", *csvio.READ_ONLY_COLUMNS, *csvio.MDM_COLUMNS}


def to_csv(rows: list[list[str]]) -> str:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue()


def table(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text, newline="")))


def without(text: str, drop: set[str]) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    keep = [i for i, name in enumerate(rows[0]) if name not in drop]
    return to_csv([[row[i] for i in keep] for row in rows])


def blank_ids(text: str) -> str:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    at = rows[0].index("device_id")
    for row in rows[1:]:
        row[at] = ""
    return to_csv(rows)


async def define(client: httpx.AsyncClient, fields: list[dict[str, Any]] = CUSTOM) -> None:
    for f in fields:
        resp = await client.post("/v1/custom-fields", json=f)
        assert resp.status_code == 201, resp.text


async def export(client: httpx.AsyncClient) -> str:
    resp = await client.get("/v1/devices/export.csv")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    return resp.text


async def upload(client: httpx.AsyncClient, text: str, **params: Any) -> httpx.Response:
    return await client.post(
        "/v1/devices/import", content=text.encode(), headers={"content-type": "text/csv"}, params=params
    )


HEADER = (
    "asset_number,serial_number,model,notes,custom_cost_center,custom_price,custom_purchased_on,custom_leased"
)
MANUAL = (
    HEADER
    + ",mdm_device_name\r\n"
    + 'PC-001,SN-SHARED,Latitude 7440,"desk 3, ""window""\nsecond line",IT,1.50,2025-04-01,Yes,x\r\n'
    + "PC-002,SN-002,MacBook Air,経理部の端末,FIN,1200,,no,\r\n"
    + "PC-003,,,,OPS,,,,\r\n"
)


async def build_ledger(client: httpx.AsyncClient, mdm_sync: Any) -> None:
    """Manual devices by CSV, then a sync binds one of them and creates another (R-M2, R-M3)."""
    await define(client)
    resp = await upload(client, MANUAL)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["status"], resp.json()["created"]) == ("applied", 3)
    desktop = MdmOnlyFields(device_name="DESKTOP-1", registration_status="registered", disk_capacity_gb=512.0)
    phone = MdmOnlyFields(device_name="IPHONE-9", primary_user_email="bob@example.com")
    await mdm_sync(
        [
            ObservedDevice(
                mdm_device_id="m-1",
                serial_number="SN-SHARED",
                device_name="DESKTOP-1",
                os="Windows (11)",
                mdm=desktop,
            ),
            ObservedDevice(
                mdm_device_id="m-2",
                serial_number="SN-NEW",
                device_name="IPHONE-9",
                os="iOS (17.5)",
                mdm=phone,
            ),
        ]
    )
    # R-M8: the synced device was created without its required custom field; a person fills it.
    [new] = [d for d in (await client.get("/v1/devices", params={"q": "iphone-9"})).json()["items"]]
    assert new["custom_fields"] == {}
    resp = await client.patch(
        f"/v1/devices/{new['device_id']}", json={"custom_fields": {"cost_center": "HR"}}
    )
    assert resp.status_code == 200, resp.text


async def test_export_then_import_into_an_empty_tenant_gives_the_same_file(
    client, globex, mdm_sync, error
) -> None:
    await build_ledger(client, mdm_sync)
    first = await export(client)
    rows = table(first)
    header = next(csv.reader(io.StringIO(first)))
    assert header == csvio.device_columns([f["name"] for f in CUSTOM])
    assert [r["asset_number"] for r in rows] == ["IPHONE-9", "PC-001", "PC-002", "PC-003"]
    bound = rows[1]
    assert (bound["source"], bound["binding_mdm_device_id"], bound["mdm_device_name"]) == (
        "intune",
        "m-1",
        "DESKTOP-1",
    )
    assert (bound["mdm_registration_status"], bound["mdm_disk_capacity_gb"], bound["os"]) == (
        "registered",
        "512.0",
        "Windows (11)",
    )
    assert bound["notes"] == 'desk 3, "window"\nsecond line'
    # Custom values in canonical form; MDM-only columns empty for a manual device.
    assert (bound["custom_price"], bound["custom_purchased_on"], bound["custom_leased"]) == (
        "1.5",
        "2025-04-01",
        "true",
    )
    assert (
        rows[2]["notes"] == "経理部の端末"
        and rows[2]["mdm_device_name"] == ""
        and rows[2]["source"] == "manual"
    )

    await define(globex)
    assert (await export(globex)).splitlines() == [first.splitlines()[0]]  # empty ledger: the header
    resp = await upload(globex, blank_ids(first))
    assert resp.status_code == 200, resp.text
    assert (resp.json()["created"], resp.json()["updated"]) == (4, 0)
    second = await export(globex)
    assert without(second, NOT_CARRIED) == without(first, NOT_CARRIED)
    # What a file cannot carry: the copies are manual devices without MDM fields.
    assert {r["source"] for r in table(second)} == {"manual"}
    assert all(r[c] == "" for r in table(second) for c in csvio.MDM_COLUMNS)

    # The same file back into its own ledger (with its ids) changes nothing at all.
    resp = await upload(client, first)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["created"], resp.json()["updated"], resp.json()["unchanged"]) == (0, 0, 4)
    assert await export(client) == first


async def test_a_file_with_one_bad_row_changes_nothing_and_names_the_row(
    client, mdm_sync, tap, error
) -> None:
    await build_ledger(client, mdm_sync)
    before = await export(client)
    commands = await tap(topics.COMMANDS)
    published = len(await commands.read_to_end())
    assert published >= 2  # the import and the PATCH of build_ledger
    ids = {r["asset_number"]: r["device_id"] for r in table(before)}
    bad = to_csv(
        [
            ["device_id", "asset_number", "model", "custom_price", "custom_cost_center"],
            [ids["PC-001"], "PC-001", "Changed", "2", "IT"],
            ["", "PC-100", "New", "3", "IT"],
            [ids["PC-002"], "PC-002", "Changed too", "twelve", "IT"],
            ["", "PC-101", "New too", "", "IT"],
        ]
    )
    err = error(await upload(client, bad), 422, "invalid_csv")
    assert err["details"] == [
        {
            "row": 4,
            "column": "custom_price",
            "message": "custom field 'price' (number): 'twelve' is not a number",
        }
    ]
    assert "row 4" in err["message"] and "nothing was changed" in err["message"]
    assert await export(client) == before
    assert len(await commands.read_to_end()) == published  # nothing went to the reconciler


async def test_every_problem_is_named_by_row_and_column(client, project, error) -> None:
    await define(client)
    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    await project(
        device_changed("acme", a, 1, asset_number="A-1", custom_fields={"cost_center": "IT"}),
        device_changed("acme", b, 1, asset_number="B-1", custom_fields={"cost_center": "IT"}),
        device_changed("acme", c, 1, asset_number="TAKEN"),
    )

    async def problems(rows: list[list[str]]) -> list[tuple[Any, Any]]:
        err = error(await upload(client, to_csv(rows), validate_only="true"), 422, "invalid_csv")
        return [(d["row"], d["column"]) for d in err["details"]]

    assert await problems([["asset_number", "colour"], ["X", "red"]]) == [(1, None)]
    assert await problems([["asset_number", "asset_number"], ["X", "Y"]]) == [(1, None)]
    assert await problems([["device_id", "model"], ["not-a-uuid", "x"], [str(uuid.uuid4()), "y"]]) == [
        (2, "device_id"),
        (3, "device_id"),
    ]
    assert await problems(
        [["asset_number", "custom_cost_center"], ["N-1", "IT"], ["n-1 ", "IT"], ["taken", "IT"]]
    ) == [(2, "asset_number"), (4, "asset_number")]
    assert await problems([["asset_number"], ["N-2"]]) == [(2, "custom_cost_center")]  # required (R-M8)
    assert await problems([["device_id", "custom_cost_center"], [str(a), ""]]) == [(2, "custom_cost_center")]
    assert await problems(
        [["asset_number", "custom_cost_center", "custom_purchased_on"], ["N-3", "IT", "01/04/2025"]]
    ) == [(2, "custom_purchased_on")]
    assert await problems([["asset_number", "model"], ["N-4"]]) == [(2, None)]
    assert await problems([["mdm_device_name", "source"], ["ignored", "intune"]]) == [
        (2, None)
    ]  # empty new device
    assert await problems([["device_id", "model"], [str(a), "x"], [str(a), "y"]]) == [(3, "device_id")]

    # Valid: swapping two devices' numbers, MDM-only and read-only columns (ignored), blank lines.
    ok = await upload(
        client,
        to_csv(
            [
                ["device_id", "asset_number", "mdm_device_name", "source", "version"],
                [str(a), "B-1", "whatever", "intune", "9"],
                [],
                [str(b), "a-1", "", "", ""],
            ]
        ),
        validate_only="true",
    )
    assert ok.status_code == 200, ok.text
    assert ok.json() | {"requested_at": None} == {
        "import_id": None,
        "command_id": None,
        "status": "valid",
        "rows": 2,
        "created": 0,
        "updated": 2,
        "unchanged": None,
        "error": None,
        "requested_at": None,
        "finished_at": None,
    }

    not_utf8 = await client.post(
        "/v1/devices/import",
        content="asset_number\nPC-é\n".encode("latin-1"),
        headers={"content-type": "text/csv"},
    )
    assert error(not_utf8, 422, "invalid_csv")["details"] == [
        {"row": None, "column": None, "message": "the file is not UTF-8 (byte 16)"}
    ]
    error(await client.post("/v1/devices/import", json={"asset_number": "X"}), 415, "unsupported_media_type")
    error(await upload(client, ""), 422, "invalid_csv")


async def test_a_file_over_the_limit_is_refused(app, client, error) -> None:
    app.state.ledger.settings = app.state.ledger.settings.model_copy(update={"import_max_bytes": 1024})
    err = error(await upload(client, "asset_number\n" + "X\n" * 1000), 413, "too_large")
    assert err["details"] == {"limit": 1024}


async def test_imported_changes_carry_csv_provenance_in_the_history(client, mdm_sync) -> None:
    await build_ledger(client, mdm_sync)
    rows = table(await export(client))
    pc3 = next(r for r in rows if r["asset_number"] == "PC-003")
    resp = await upload(client, to_csv([["device_id", "status"], [pc3["device_id"], "in_stock"]]))
    assert resp.status_code == 200, resp.text
    status = resp.json()
    assert (status["status"], status["updated"], status["unchanged"]) == ("applied", 1, 0)
    history = (await client.get(f"/v1/devices/{pc3['device_id']}/history")).json()["items"]
    assert [h["change"] for h in history] == ["updated", "created"]
    update, created = history
    assert update["provenance"] == {
        "actor": "csv",
        "integration_id": None,
        "sync_run_id": None,
        "command_id": status["command_id"],
    }
    assert update["changes"] == [{"field": "status", "before": None, "after": "in_stock", "rule": "csv"}]
    assert {c["rule"] for c in created["changes"]} == {"csv"}
    assert (await client.get(f"/v1/devices/imports/{status['import_id']}")).json() == status

    # A synced device's history names the integration, the run and the rule of each field (R-M11).
    bound = next(r for r in rows if r["asset_number"] == "PC-001")
    page = (await client.get(f"/v1/devices/{bound['device_id']}/history", params={"limit": 1})).json()
    [latest] = page["items"]
    assert (
        latest["provenance"]["actor"] == "sync" and latest["provenance"]["integration_id"] == "int-intune-1"
    )
    assert latest["provenance"]["sync_run_id"] is not None
    rules = {c["field"]: c["rule"] for c in latest["changes"]}
    assert (
        rules["os"] == "mdm_first" and rules["source"] == "binding" and rules["mdm.device_name"] == "mdm_only"
    )
    older = (
        await client.get(f"/v1/devices/{bound['device_id']}/history", params={"cursor": page["next_cursor"]})
    ).json()
    assert [h["provenance"]["actor"] for h in older["items"]] == ["csv"] and older["next_cursor"] is None


async def test_an_import_the_reconciler_refuses_is_422_and_recorded(
    client, tap, publish, error, globex
) -> None:
    """Between the API's check and the reconciler, the ledger may change (a sync takes an asset
    number): the reconciler refuses the whole import, and the API says why."""
    commands = await tap(topics.COMMANDS)

    async def refuse() -> None:
        async def arrived() -> Any:
            await commands.poll()
            return commands.records

        [record] = await wait_for(arrived, timeout=30)
        command = codec.decode(codec.command_adapter, record.value)
        assert isinstance(command, ImportDevices)
        assert [r.fields.model_fields_set for r in command.rows] == [{"asset_number", "model"}]
        await publish.changes(
            CommandRejected(
                tenant_id="acme",
                command_id=command.event_id,
                code="import_invalid",
                message="row 2: asset number 'NEW-1' belongs to device x",
            )
        )

    import asyncio

    refusing = asyncio.create_task(refuse())
    err = error(
        await upload(client, to_csv([["asset_number", "model"], ["NEW-1", "X1"]])), 422, "import_invalid"
    )
    await refusing
    assert "row 2" in err["message"]
    status = (await client.get(f"/v1/devices/imports/{err['details']['import_id']}")).json()
    assert status["status"] == "rejected" and status["error"]["code"] == "import_invalid"
    error(await globex.get(f"/v1/devices/imports/{err['details']['import_id']}"), 404, "not_found")
