"""Usage history CSV (R-C3): who used which device from when to when; checked whole, written whole."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

import httpx
import pytest
from ledger_api_testing import device_changed

pytestmark = pytest.mark.integration

HEADER = "device_id,asset_number,user,from,to\r\n"


async def upload(client: httpx.AsyncClient, text: str, **params: Any) -> httpx.Response:
    return await client.post(
        "/v1/usage-history/import", content=text.encode(), headers={"content-type": "text/csv"}, params=params
    )


async def export(client: httpx.AsyncClient) -> str:
    resp = await client.get("/v1/usage-history/export.csv")
    assert resp.status_code == 200, resp.text
    assert resp.headers["content-type"].startswith("text/csv")
    return resp.text


def without_ids(text: str) -> list[list[str]]:
    return [row[1:] for row in csv.reader(io.StringIO(text, newline=""))]


async def fleet(project, tenant: str) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in ("PC-1", "PC-2", "PC-3")}
    await project(*(device_changed(tenant, i, 1, asset_number=name) for name, i in ids.items()))
    return ids


async def test_export_then_import_into_another_tenant_gives_the_same_file(client, globex, project) -> None:
    mine = await fleet(project, "acme")
    await fleet(project, "globex")
    assert await export(client) == HEADER
    text = (
        "asset_number,user,from,to\r\n"
        "pc-2,bob@example.com,2025-01-01,2025-03-31\r\n"
        "PC-1,alice@example.com,2024-04-01,2025-03-31\r\n"
        "PC-1,carol@example.com,2025-04-01,\r\n"
        f"{'PC-2'},dave@example.com,2025-04-01,\r\n"
    )
    resp = await upload(client, text)
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"mode": "replace", "periods": 4, "devices": 2, "removed": 0}
    first = await export(client)
    assert first == (
        HEADER + f"{mine['PC-1']},PC-1,alice@example.com,2024-04-01,2025-03-31\r\n"
        f"{mine['PC-1']},PC-1,carol@example.com,2025-04-01,\r\n"
        f"{mine['PC-2']},PC-2,bob@example.com,2025-01-01,2025-03-31\r\n"
        f"{mine['PC-2']},PC-2,dave@example.com,2025-04-01,\r\n"
    )
    # Into the other ledger: its devices have other ids, so the rows name them by asset number.
    moved = "\r\n".join(",".join(row) for row in without_ids(first)) + "\r\n"
    resp = await upload(globex, moved)
    assert resp.status_code == 200, resp.text
    assert without_ids(await export(globex)) == without_ids(first)


async def test_overlapping_periods_are_refused_naming_the_rows_and_nothing_changes(
    client, project, error
) -> None:
    ids = await fleet(project, "acme")
    assert (
        await upload(client, f"device_id,user,from,to\r\n{ids['PC-1']},alice,2025-01-01,2025-06-30\r\n")
    ).is_success
    before = await export(client)
    text = (
        "asset_number,user,from,to\r\n"
        "PC-1,alice,2025-01-01,2025-06-30\r\n"
        "PC-2,bob,2025-01-01,\r\n"
        "PC-1,carol,2025-06-30,2025-12-31\r\n"  # starts the day row 2 ends: both days count
        "PC-2,dave,2026-01-01,\r\n"  # bob never returned it
    )
    err = error(await upload(client, text), 422, "invalid_csv")
    assert [(d["row"], d["column"]) for d in err["details"]] == [(4, "from"), (5, "from")]
    assert (
        "overlaps row 2" in err["details"][0]["message"] and "overlaps row 3" in err["details"][1]["message"]
    )
    assert await export(client) == before


async def test_append_checks_against_what_is_recorded_replace_only_touches_the_files_devices(
    client, project, error
) -> None:
    ids = await fleet(project, "acme")
    base = "asset_number,user,from,to\r\nPC-1,alice,2025-01-01,2025-03-31\r\nPC-3,erin,2025-01-01,\r\n"
    assert (await upload(client, base)).is_success
    err = error(
        await upload(client, "asset_number,user,from\r\nPC-1,bob,2025-03-01\r\n", mode="append"),
        422,
        "invalid_csv",
    )
    assert "a period already recorded" in err["details"][0]["message"]
    resp = await upload(client, "asset_number,user,from\r\nPC-1,bob,2025-04-01\r\n", mode="append")
    assert resp.json() == {"mode": "append", "periods": 1, "devices": 1, "removed": 0}
    resp = await upload(client, "asset_number,user,from,to\r\n pc-1 ,frank,2024-01-01,2024-12-31\r\n")
    assert resp.json() == {"mode": "replace", "periods": 1, "devices": 1, "removed": 2}
    rows = list(csv.DictReader(io.StringIO(await export(client))))
    assert [(r["asset_number"], r["user"]) for r in rows] == [("PC-1", "frank"), ("PC-3", "erin")]
    assert rows[0]["device_id"] == str(ids["PC-1"])


async def test_every_row_error_is_named(client, globex, project, error) -> None:
    ids = await fleet(project, "acme")
    theirs = await fleet(project, "globex")
    text = (
        "device_id,asset_number,user,from,to\r\n"
        f"{ids['PC-1']},PC-2,alice,2025-01-01,\r\n"  # two different devices
        ",NOPE,bob,2025-01-01,\r\n"  # no such asset number
        f"{theirs['PC-1']},,carol,2025-01-01,\r\n"  # another tenant's device
        ",PC-1,,2025-01-01,\r\n"  # no user
        ",PC-1,dave,01/02/2025,\r\n"  # not a date
        ",PC-2,erin,2025-05-01,2025-04-01\r\n"  # ends before it starts
        ",PC-3,frank,,\r\n"  # no start
        "x,PC-3\r\n"  # short row
    )
    err = error(await upload(client, text), 422, "invalid_csv")
    assert [(d["row"], d["column"]) for d in err["details"]] == [
        (2, "asset_number"),
        (3, "asset_number"),
        (4, "device_id"),
        (5, "user"),
        (6, "from"),
        (7, "to"),
        (8, "from"),
        (9, None),
    ]
    assert err["message"].startswith("8 error(s) in the file")
    err = error(await upload(client, "device,user,from\r\n"), 422, "invalid_csv")
    assert err["details"][0]["row"] == 1 and "device" in err["details"][0]["message"]
    error(await upload(client, "asset_number,from\r\n"), 422, "invalid_csv")
    assert await export(client) == HEADER
