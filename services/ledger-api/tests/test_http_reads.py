"""HTTP reads over the projection: auth and tenancy, list, detail, history, integrations, sync runs."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from ledger_api_testing import T0, device_changed, sync_run_summary

from ledger_api.adapters.repositories import device_listing as listing

pytestmark = pytest.mark.integration


async def test_every_v1_request_needs_a_valid_token(app, anon, error) -> None:
    for path in ("/v1/devices", f"/v1/devices/{uuid.uuid4()}", "/v1/sync-runs", "/v1/integrations"):
        resp = await anon.get(path)
        error(resp, 401, "unauthorized")
        assert resp.headers["www-authenticate"] == "Bearer"
    error(await anon.get("/v1/devices", headers={"Authorization": "Bearer not-a-token"}), 401, "unauthorized")
    error(await anon.get("/v1/devices", headers={"Authorization": "Basic YTpi"}), 401, "unauthorized")
    # Authentication comes before parameter validation: nothing is revealed to a stranger.
    error(await anon.get("/v1/devices?limit=0"), 401, "unauthorized")
    error(await anon.post("/v1/devices", json={"nope": 1}), 401, "unauthorized")
    assert (await anon.get("/healthz")).status_code == 200


async def test_a_token_sees_its_own_tenant_only(client, globex, project, error) -> None:
    mine = uuid.uuid4()
    run = uuid.uuid4()
    await project(
        device_changed("acme", mine, 1, asset_number="ACME-1"),
        sync_run_summary("acme", run, "completed", seen=1),
        device_changed("globex", uuid.uuid4(), 1, asset_number="GLOBEX-1"),
    )
    assert (await client.get(f"/v1/devices/{mine}")).status_code == 200
    error(await globex.get(f"/v1/devices/{mine}"), 404, "not_found")
    error(await globex.get(f"/v1/devices/{mine}/history"), 404, "not_found")
    error(await globex.patch(f"/v1/devices/{mine}", json={"notes": "x"}), 404, "not_found")
    error(await globex.delete(f"/v1/devices/{mine}"), 404, "not_found")
    error(await globex.get(f"/v1/sync-runs/{run}"), 404, "not_found")
    error(await globex.post("/v1/master-links/ml-intune-1/sync"), 404, "not_found")
    theirs = (await globex.get("/v1/devices")).json()["items"]
    assert [d["asset_number"] for d in theirs] == ["GLOBEX-1"]
    assert [d["asset_number"] for d in (await client.get("/v1/devices")).json()["items"]] == ["ACME-1"]
    assert (await globex.get("/v1/sync-runs")).json()["items"] == []
    assert (await globex.get("/v1/integrations")).json()["items"] == []


async def _fleet(project) -> dict[str, uuid.UUID]:
    ids = {name: uuid.uuid4() for name in ("win", "mac", "manual", "lost", "jamf")}
    await project(
        device_changed(
            "acme",
            ids["win"],
            1,
            bound_to=("int-intune-1", "m-win"),
            device_name="DESKTOP-7Q",
            asset_number="A-001",
            serial_number="SN-WIN",
            os="Windows (10.0.22631)",
            model="Surface Laptop 5",
            assigned_user="Alice@Example.com",
            status="in_use",
        ),
        device_changed(
            "acme",
            ids["mac"],
            1,
            bound_to=("int-intune-1", "m-mac"),
            asset_number="A-002",
            serial_number="SN-MAC",
            os="macOS (14.5)",
            model="MacBook Air",
            assigned_user="bob@example.com",
            status="in_use",
        ),
        device_changed(
            "acme",
            ids["manual"],
            1,
            asset_number="A-003",
            serial_number="SN-MAN",
            os="Windows (11)",
            model="ThinkPad X1",
            status="in_stock",
        ),
        device_changed(
            "acme",
            ids["lost"],
            1,
            bound_to=("int-intune-1", "m-lost"),
            asset_number="A-004",
            os="iOS (17.5)",
            model="iPhone 15",
            assigned_user="alice@example.com",
            status="in_use",
            missing_from_mdm=True,
            last_seen_at=T0 - timedelta(days=3),
        ),
        device_changed(
            "acme",
            ids["jamf"],
            1,
            bound_to=("int-jamf-1", "computer:7"),
            source="jamf_pro",
            asset_number="A_005%",
            os="macOS (15.0)",
            model="Mac mini",
        ),
    )
    return ids


async def _ids(client, query: str) -> set[uuid.UUID]:
    resp = await client.get(f"/v1/devices?{query}")
    assert resp.status_code == 200, resp.text
    return {uuid.UUID(d["device_id"]) for d in resp.json()["items"]}


async def test_list_filters_and_search(client, project) -> None:
    ids = await _fleet(project)
    every = set(ids.values())
    assert await _ids(client, "") == every
    assert await _ids(client, "source=manual") == {ids["manual"]}
    assert await _ids(client, "source=intune") == {ids["win"], ids["mac"], ids["lost"]}
    assert await _ids(client, "source=jamf_pro") == {ids["jamf"]}
    assert await _ids(client, "os=windows") == {ids["win"], ids["manual"]}
    assert await _ids(client, "os=macOS%20(14") == {ids["mac"]}
    assert await _ids(client, "assigned_user=alice@example.com") == {ids["win"], ids["lost"]}
    assert await _ids(client, "status=in_stock") == {ids["manual"]}
    assert await _ids(client, "missing_from_mdm=true") == {ids["lost"]}
    assert await _ids(client, "missing_from_mdm=false") == every - {ids["lost"]}
    # q: asset number, serial, model, user, MDM device name; case-insensitive substring.
    assert await _ids(client, "q=sn-ma") == {ids["mac"], ids["manual"]}
    assert await _ids(client, "q=thinkpad") == {ids["manual"]}
    assert await _ids(client, "q=BOB@") == {ids["mac"]}
    assert await _ids(client, "q=desktop-7") == {ids["win"]}
    # LIKE wildcards in q are literal characters.
    assert await _ids(client, "q=_005%25") == {ids["jamf"]}
    assert await _ids(client, "q=%25") == {ids["jamf"]}
    assert await _ids(client, "source=intune&assigned_user=ALICE@example.com&missing_from_mdm=false") == {
        ids["win"]
    }
    items = (await client.get("/v1/devices?sort=asset_number")).json()["items"]
    assert [d["source"] for d in items] == ["intune", "intune", "manual", "intune", "jamf_pro"]
    assert items[0]["device_name"] == "DESKTOP-7Q"
    assert items[0]["binding"] == {
        "integration_id": "int-intune-1",
        "mdm_kind": "intune",
        "mdm_device_id": "m-win",
    }
    assert "mdm" not in items[0]


async def test_list_items_read_exactly_like_the_detail(client, project) -> None:
    """Issue 12: PostgreSQL renders the list's items (json_build_object); every value must read as
    the API renders the detail: UTC 'Z' timestamps with microseconds only when there are any, JSON
    objects for binding/mdm/custom_fields, nulls, quotes and non-ASCII text (SPEC §8)."""
    ids = await _fleet(project)
    ids["odd"] = uuid.uuid4()
    await project(
        device_changed(
            "acme",
            ids["odd"],
            1,
            bound_to=("int-intune-1", "m-odd"),
            asset_number="A-006",
            notes='a "quoted" back\\slash, ünïcode 機器',
            last_seen_at=T0 + timedelta(microseconds=120),
        )
    )
    items = (await client.get(f"/v1/devices?fields={','.join(listing.FIELDS)}")).json()["items"]
    assert {uuid.UUID(d["device_id"]) for d in items} == set(ids.values())
    for item in items:
        detail = (await client.get(f"/v1/devices/{item['device_id']}")).json()
        assert item["device_name"] == (detail["mdm"] or {}).get("device_name")
        shared = [k for k in item if k != "device_name"]
        assert {k: item[k] for k in shared} == {k: detail[k] for k in shared}
    odd = next(d for d in items if d["device_id"] == str(ids["odd"]))
    assert odd["last_seen_at"].endswith(".000120Z") and odd["created_at"].endswith(":00Z")
    assert odd["notes"] == 'a "quoted" back\\slash, ünïcode 機器'


async def test_fields_selects_columns(client, project, error) -> None:
    await _fleet(project)
    items = (await client.get("/v1/devices?fields=asset_number,source&sort=asset_number")).json()["items"]
    assert [set(d) for d in items] == [{"device_id", "asset_number", "source"}] * 5
    assert items[0] == {"device_id": items[0]["device_id"], "asset_number": "A-001", "source": "intune"}
    with_mdm = (await client.get("/v1/devices?fields=mdm,custom_fields&sort=asset_number")).json()["items"]
    assert with_mdm[0]["mdm"]["device_name"] == "DESKTOP-7Q" and with_mdm[0]["custom_fields"] == {}
    assert with_mdm[2]["mdm"] is None
    err = error(await client.get("/v1/devices?fields=asset_number,colour,price"), 400, "invalid_parameter")
    assert "colour" in err["message"] and "price" in err["message"]
    assert err["details"][0]["field"] == "fields" and err["details"][0]["unknown"] == ["colour", "price"]


async def test_cursor_pagination_walks_every_device_exactly_once(client, project) -> None:
    events = []
    for n in range(137):
        # Few distinct values, NULLs included: ties are broken by device id.
        fields = {
            "asset_number": None if n % 10 == 0 else f"A-{n % 7}",
            "serial_number": f"S-{n:03d}",
            "model": ["X", "Y", None][n % 3],
            "updated_at": T0 + timedelta(minutes=n % 5),
        }
        if n % 4 == 0:
            fields["last_seen_at"] = T0 + timedelta(hours=n % 3)
        events.append(device_changed("acme", uuid.uuid4(), 1, **fields))
    await project(*events)
    expected = {e.device_id for e in events}
    for sort in ("asset_number", "-asset_number", "-updated_at", "model", "last_seen_at", "serial_number"):
        seen: list[uuid.UUID] = []
        keys: list = []
        cursor = None
        pages = 0
        while True:
            query = f"/v1/devices?sort={sort}&limit=10&fields=device_id,{sort.lstrip('-')}"
            resp = await client.get(query + (f"&cursor={cursor}" if cursor else ""))
            assert resp.status_code == 200, resp.text
            body = resp.json()
            seen += [uuid.UUID(d["device_id"]) for d in body["items"]]
            keys += [d[sort.lstrip("-")] for d in body["items"]]
            pages += 1
            assert pages <= 20, (sort, body)
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert len(seen) == len(expected) == len(set(seen)), sort
        assert set(seen) == expected
        assert pages == 14
        folded = [k if k is not None else "" for k in keys]
        assert folded == sorted(folded, reverse=sort.startswith("-")), sort
    # The same walk with a filter only yields matching devices.
    resp = await client.get("/v1/devices?model=X")
    assert resp.status_code == 400  # `model` is not a filter: a typo must not return everything


async def test_bad_parameters_are_rejected_naming_them(client, error) -> None:
    cases = {
        "limit=0": "limit",
        "limit=1001": "limit",
        "limit=ten": "limit",
        "source=csv": "source",
        "missing_from_mdm=maybe": "missing_from_mdm",
        "sort=price": "sort",
        "cursor=%%%": "cursor",
        "cursor=" + listing.encode_cursor(listing.Sort("model"), "X", uuid.uuid4()): "cursor",
        "sauce=intune": "sauce",
        "q=": "q",
    }
    for query, name in cases.items():
        err = error(await client.get(f"/v1/devices?{query}"), 400, "invalid_parameter")
        assert name in err["message"], (query, err)
        assert any(d["field"] == name for d in err["details"]), (query, err)
    err = error(await client.get("/v1/devices/not-a-uuid"), 400, "invalid_parameter")
    assert err["details"][0]["field"] == "device_id"
    error(await client.get("/v1/sync-runs?status=done"), 400, "invalid_parameter")
    error(await client.get("/v1/nowhere"), 404, "not_found")
    error(await client.put("/v1/devices"), 405, "method_not_allowed")


async def test_detail_shows_source_binding_and_mdm_fields(client, project, error) -> None:
    ids = await _fleet(project)
    win = (await client.get(f"/v1/devices/{ids['win']}")).json()
    assert win["source"] == "intune"
    assert win["binding"] == {
        "integration_id": "int-intune-1",
        "mdm_kind": "intune",
        "mdm_device_id": "m-win",
    }
    assert win["mdm"]["device_name"] == "DESKTOP-7Q"
    assert win["mdm"]["registration_status"] == "registered"
    assert win["mdm"]["enrolled_at"] == "2026-10-27T06:00:00Z"
    assert win["os"] == "Windows (10.0.22631)" and win["version"] == 1
    assert win["created_at"] == "2026-11-26T06:00:00Z"
    manual = (await client.get(f"/v1/devices/{ids['manual']}")).json()
    assert manual["source"] == "manual" and manual["binding"] is None and manual["mdm"] is None
    lost = (await client.get(f"/v1/devices/{ids['lost']}")).json()
    assert lost["missing_from_mdm"] is True and lost["last_seen_at"] == "2026-11-23T06:00:00Z"
    error(await client.get(f"/v1/devices/{uuid.uuid4()}"), 404, "not_found")


async def test_history_is_newest_first_with_provenance_and_outlives_the_device(
    client, project, error
) -> None:
    a = uuid.uuid4()
    cmd = uuid.uuid4()
    await project(
        device_changed("acme", a, 1, asset_number="A-1", os="Windows (10)"),
        device_changed("acme", a, 2, asset_number="A-1", os="Windows (11)"),
        device_changed("acme", a, 3, asset_number="A-1", status="retired", command_id=cmd),
    )
    body = (await client.get(f"/v1/devices/{a}/history")).json()
    assert [h["version"] for h in body["items"]] == [3, 2, 1]
    assert body["next_cursor"] is None
    newest = body["items"][0]
    assert newest["change"] == "updated"
    assert newest["provenance"] == {
        "actor": "manual",
        "integration_id": None,
        "sync_run_id": None,
        "command_id": str(cmd),
    }
    assert {"field": "status", "before": None, "after": "retired", "rule": "manual"} in newest["changes"]
    assert body["items"][1]["provenance"]["actor"] == "sync"
    assert body["items"][1]["provenance"]["integration_id"] == "int-intune-1"
    page1 = (await client.get(f"/v1/devices/{a}/history?limit=2")).json()
    assert [h["version"] for h in page1["items"]] == [3, 2]
    page2 = (await client.get(f"/v1/devices/{a}/history?limit=2&cursor={page1['next_cursor']}")).json()
    assert [h["version"] for h in page2["items"]] == [1] and page2["next_cursor"] is None

    await project(device_changed("acme", a, 4, change="deleted"))
    error(await client.get(f"/v1/devices/{a}"), 404, "not_found")
    assert [h["change"] for h in (await client.get(f"/v1/devices/{a}/history")).json()["items"]] == [
        "deleted",
        "updated",
        "updated",
        "created",
    ]
    error(await client.get(f"/v1/devices/{uuid.uuid4()}/history"), 404, "not_found")


async def test_integrations_and_master_links_never_show_secrets(client, error) -> None:
    items = (await client.get("/v1/integrations")).json()["items"]
    assert items == [
        {
            "integration_id": "int-intune-1",
            "kind": "intune",
            "display_name": "Intune (HQ)",
            "category": "it_devices",
            "state": "master_linked",
            "master_link_ids": ["ml-intune-1"],
            "has_secret": False,  # seeded without credentials: the connector's file has them
            "connection": {},
            "error": None,  # R-A1: nothing failed, nothing was tried yet
            "last_succeeded_at": None,
            "last_tested_at": None,
            "created_at": items[0]["created_at"],
            "updated_at": items[0]["updated_at"],
        },
        {
            "integration_id": "int-jamf-1",
            "kind": "jamf_pro",
            "display_name": "-",  # R-S3
            "category": "it_devices",
            "state": "untested",  # R-A1: "connected" only after a successful test or sync
            "master_link_ids": [],
            "has_secret": False,
            "connection": {},
            "error": None,
            "last_succeeded_at": None,
            "last_tested_at": None,
            "created_at": items[1]["created_at"],
            "updated_at": items[1]["updated_at"],
        },
    ]
    one = (await client.get("/v1/integrations/int-jamf-1")).json()
    assert one["integration_id"] == "int-jamf-1"
    error(await client.get("/v1/integrations/nope"), 404, "not_found")
    links = (await client.get("/v1/master-links")).json()["items"]
    assert len(links) == 1
    link = links[0]
    assert link["master_link_id"] == "ml-intune-1" and link["integration_id"] == "int-intune-1"
    assert link["mdm_kind"] == "intune" and link["integration_display_name"] == "Intune (HQ)"
    assert link["matching_key"] == {"mdm": "serial_number", "ledger": "asset_number"}
    assert link["asset_number_source"] == "device_name" and link["last_sync_run"] is None
    assert link["status"] == "active" and link["schedule"]["local_time"] == "06:00"
    assert link["schedule"]["time_zone"] == "Asia/Tokyo"  # R-M7: the tenant's zone by default


async def test_sync_runs_show_status_counts_and_timings(client, project, error) -> None:
    done, failed = uuid.uuid4(), uuid.uuid4()
    await project(
        sync_run_summary(
            "acme", done, "completed", at=T0 + timedelta(seconds=42), seen=12, created=3, updated=4
        ),
        sync_run_summary("acme", failed, "failed", at=T0 + timedelta(seconds=50), seen=2, errors=1),
    )
    run = (await client.get(f"/v1/sync-runs/{done}")).json()
    assert run["status"] == "completed"
    assert run["counts"] == {
        "seen": 12,
        "created": 3,
        "updated": 4,
        "unchanged": 0,
        "conflicts": 0,
        "missing": 0,
        "errors": 0,
        "skipped": 0,
        "warnings": 0,
    }
    assert run["reported_total"] == 12
    assert run["started_at"] == "2026-11-26T06:00:00Z" and run["finished_at"] == "2026-11-26T06:00:42Z"
    assert run["duration_seconds"] == 42.0
    assert run["master_link_id"] == "ml-intune-1" and run["trigger"] is None
    bad = (await client.get(f"/v1/sync-runs/{failed}")).json()
    assert bad["status"] == "failed" and bad["error"] == "pull failed"
    listed = (await client.get("/v1/sync-runs")).json()
    assert {r["sync_run_id"] for r in listed["items"]} == {str(done), str(failed)}
    only_failed = (await client.get("/v1/sync-runs?status=failed")).json()["items"]
    assert [r["sync_run_id"] for r in only_failed] == [str(failed)]
    page = (await client.get("/v1/sync-runs?limit=1")).json()
    rest = (await client.get(f"/v1/sync-runs?limit=1&cursor={page['next_cursor']}")).json()
    assert {page["items"][0]["sync_run_id"], rest["items"][0]["sync_run_id"]} == {str(done), str(failed)}
    assert rest["next_cursor"] is None
    links = (await client.get("/v1/master-links")).json()["items"]
    assert links[0]["last_sync_run"]["sync_run_id"] in {str(done), str(failed)}
    error(await client.get(f"/v1/sync-runs/{uuid.uuid4()}"), 404, "not_found")


async def test_operations_endpoints(app, anon, client, project) -> None:
    assert (await anon.get("/healthz")).json() == {"status": "ok"}
    ready = await anon.get("/readyz")
    assert ready.status_code == 200, ready.text
    assert ready.json() == {"status": "ready", "checks": {"database": "ok", "projection": "running"}}
    await project(device_changed("acme", uuid.uuid4(), 1, asset_number="M-1"))
    await client.get("/v1/devices")
    resp = await client.get("/v1/devices", headers={"X-Request-ID": "req-42"})
    assert resp.headers["x-request-id"] == "req-42"
    assert len((await client.get("/v1/devices")).headers["x-request-id"]) == 32
    text = (await anon.get("/metrics")).text
    assert 'ledger_api_http_requests_total{method="GET",route="/v1/devices",status="200"} 3.0' in text
    assert "ledger_api_projected_device_changes_total 1.0" in text
    assert "ledger_api_projection_lag_records" in text
    assert "ledger_api_http_request_duration_seconds_bucket" in text

    app.state.ledger.pool.terminate()  # the database goes away
    assert (await anon.get("/readyz")).status_code == 503
