"""R-C3 beyond CSV (issue 10 item 6): `GET/POST /v1/devices/{id}/usage-history`, `PATCH/DELETE
…/{entry_id}` (no overlaps: 409 naming the periods in the way; audited, R-A4), and periods appended
by the projection when a sync changes the assigned user of a bound device, with provenance —
idempotent under redelivery, late older versions and a period deleted by hand. Real PostgreSQL and
broker."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine
from datetime import date, timedelta
from typing import Any

import httpx
import pytest
from ledger_api_testing import T0, device_changed

from ledger_api.domain.usage_history import Entry, assigned_user_changed

Project = Callable[..., Coroutine[Any, Any, None]]
Error = Callable[[httpx.Response, int, str], dict[str, Any]]


def _period(p: dict[str, Any]) -> tuple[Any, ...]:
    return (p["user"], p["from"], p["to"], p["origin"])


@pytest.mark.integration
@pytest.mark.rule("R-C3", "R-A4")
async def test_periods_by_hand_never_overlap_and_are_audited(
    project: Project, client: httpx.AsyncClient, globex: httpx.AsyncClient, error: Error
) -> None:
    device_id = uuid.uuid4()
    await project(device_changed("acme", device_id, 1, asset_number="PC-U1"))
    url = f"/v1/devices/{device_id}/usage-history"
    assert (await client.get(url)).json() == {"items": []}

    first = await client.post(url, json={"user": "aiko", "from": "2026-04-01", "to": "2026-06-30"})
    assert first.status_code == 201, first.text
    a = first.json()
    assert _period(a) == ("aiko", "2026-04-01", "2026-06-30", "manual") and a["provenance"] is None
    b = (await client.post(url, json={"user": "ben", "from": "2026-07-01"})).json()
    assert b["to"] is None

    err = error(
        await client.post(url, json={"user": "cho", "from": "2026-06-30", "to": "2026-07-02"}),
        409,
        "usage_overlap",
    )
    assert {c["entry_id"] for c in err["details"]["conflicts"]} == {a["entry_id"], b["entry_id"]}
    assert "aiko" in err["message"] and "ben" in err["message"]
    error(
        await client.post(url, json={"user": "cho", "from": "2026-05-02", "to": "2026-05-01"}),
        422,
        "invalid_body",
    )
    error(await client.post(url, json={"user": "cho", "from": "2026-05-02", "extra": 1}), 422, "invalid_body")

    # PATCH: closing ben's period, then moving aiko's end onto ben's start is refused
    closed = await client.patch(f"{url}/{b['entry_id']}", json={"to": "2026-10-31"})
    assert closed.status_code == 200, closed.text
    assert _period(closed.json()) == ("ben", "2026-07-01", "2026-10-31", "manual")
    err = error(await client.patch(f"{url}/{a['entry_id']}", json={"to": "2026-07-01"}), 409, "usage_overlap")
    assert [c["entry_id"] for c in err["details"]["conflicts"]] == [b["entry_id"]]
    error(await client.patch(f"{url}/{a['entry_id']}", json={"user": None}), 422, "invalid_body")
    error(await client.patch(f"{url}/{a['entry_id']}", json={}), 422, "empty_patch")

    assert (await client.delete(f"{url}/{a['entry_id']}")).status_code == 204
    error(await client.delete(f"{url}/{a['entry_id']}"), 404, "not_found")
    assert [_period(p) for p in (await client.get(url)).json()["items"]] == [
        ("ben", "2026-07-01", "2026-10-31", "manual")
    ]

    # tenant isolation: another tenant sees nothing and changes nothing
    error(await globex.get(url), 404, "not_found")
    error(await globex.post(url, json={"user": "x", "from": "2027-01-01"}), 404, "not_found")
    error(await globex.patch(f"{url}/{b['entry_id']}", json={"user": "x"}), 404, "not_found")
    error(await globex.delete(f"{url}/{b['entry_id']}"), 404, "not_found")
    error(await client.get(f"/v1/devices/{uuid.uuid4()}/usage-history"), 404, "not_found")

    log = (await client.get("/v1/audit-log", params={"target_type": "usage_period"})).json()["items"]
    assert [e["action"] for e in log] == [
        "usage_history.delete",
        "usage_history.update",
        "usage_history.create",
        "usage_history.create",
    ]
    assert log[1]["before"]["to"] is None and log[1]["after"]["to"] == "2026-10-31"


def _at(change: Any, day: int) -> Any:
    """The change, made on day `day` after T0 (Tokyo afternoon, the acme tenant's zone)."""
    return change.model_copy(update={"occurred_at": T0 + timedelta(days=day)})


@pytest.mark.integration
@pytest.mark.rule("R-C3")
async def test_a_sync_changing_the_assigned_user_closes_and_opens_periods_once(
    project: Project, client: httpx.AsyncClient
) -> None:
    device_id = uuid.uuid4()
    bound = ("int-intune-1", f"m-{device_id.hex[:8]}")
    v1 = _at(device_changed("acme", device_id, 1, bound_to=bound, assigned_user="aiko"), 0)
    v2 = _at(device_changed("acme", device_id, 2, bound_to=bound, assigned_user="ben"), 10)
    await project(v1, v2)
    url = f"/v1/devices/{device_id}/usage-history"
    items = (await client.get(url)).json()["items"]
    day0 = date(2026, 11, 26)  # T0 = 06:00 UTC = 15:00 in Asia/Tokyo
    assert [_period(p) for p in items] == [
        ("aiko", day0.isoformat(), (day0 + timedelta(days=9)).isoformat(), "sync"),
        ("ben", (day0 + timedelta(days=10)).isoformat(), None, "sync"),
    ]
    assert items[1]["provenance"] == {
        "sync_run_id": str(uuid.UUID(int=1)),
        "integration_id": "int-intune-1",
        "event_id": str(v2.event_id),
    }

    # redelivered, and an older version arriving late (another event id): nothing changes
    late = _at(device_changed("acme", device_id, 1, bound_to=bound, assigned_user="zed"), 20)
    await project(v2, late)
    assert (await client.get(url)).json()["items"] == items

    # a manual edit (no sync provenance) does not touch the usage history
    manual = device_changed(
        "acme", device_id, 3, bound_to=bound, assigned_user="cho", command_id=uuid.uuid4()
    )
    await project(_at(manual, 11))
    assert (await client.get(url)).json()["items"] == items

    # ben's period deleted by hand is not opened again by a redelivery
    assert (await client.delete(f"{url}/{items[1]['entry_id']}")).status_code == 204
    await project(v2)
    assert [_period(p) for p in (await client.get(url)).json()["items"]] == [_period(items[0])]

    # a CSV import marks its periods `import`
    csv = f"device_id,user,from,to\n{device_id},erin,2025-01-01,2025-12-31\n"
    imported = await client.post(
        "/v1/usage-history/import?mode=append", content=csv.encode(), headers={"content-type": "text/csv"}
    )
    assert imported.status_code == 200, imported.text
    first = (await client.get(url)).json()["items"][0]
    assert _period(first) == ("erin", "2025-01-01", "2025-12-31", "import") and first["provenance"] is None

    # an unbound (manual) device gets no automatic period
    other = uuid.uuid4()
    await project(device_changed("acme", other, 1, assigned_user="dan"))
    assert (await client.get(f"/v1/devices/{other}/usage-history")).json() == {"items": []}


@pytest.mark.integration
@pytest.mark.rule("R-C3")
async def test_syncs_through_the_reconciler_record_who_used_the_device(
    client: httpx.AsyncClient, mdm_sync: Callable[..., Coroutine[Any, Any, dict[str, Any]]]
) -> None:
    """Two real sync runs on one day: the MDM's first user opens a period, the second replaces it
    (whole days: the last user of the day holds it), with the second run's provenance."""
    from ledger_contracts import ObservedDevice

    def observed(user: str) -> ObservedDevice:
        return ObservedDevice(
            mdm_device_id="m-u1", serial_number="SN-U1", device_name="PC-U1", assigned_user=user
        )

    first = await mdm_sync([observed("aiko@example.com")])
    [device] = (await client.get("/v1/devices")).json()["items"]
    opened = (await client.get(f"/v1/devices/{device['device_id']}/usage-history")).json()["items"]
    assert [(p["user"], p["to"], p["origin"]) for p in opened] == [("aiko@example.com", None, "sync")]
    assert opened[0]["provenance"]["sync_run_id"] == first["sync_run_id"]
    second = await mdm_sync([observed("ben@example.com")])
    items = (await client.get(f"/v1/devices/{device['device_id']}/usage-history")).json()["items"]
    assert [(p["user"], p["to"], p["origin"]) for p in items] == [("ben@example.com", None, "sync")]
    assert items[0]["provenance"]["sync_run_id"] == second["sync_run_id"]
    assert items[0]["provenance"]["integration_id"] == "int-intune-1"


D = date(2026, 11, 26)


@pytest.mark.unit
@pytest.mark.rule("R-C3")
def test_user_change_steps() -> None:
    open_sync = Entry(1, "aiko", D - timedelta(days=5), None, "sync")
    steps = assigned_user_changed([open_sync], "ben", D)
    assert steps.close == [(1, D - timedelta(days=1))] and steps.open_for == "ben" and not steps.delete
    # the same user again: nothing
    same = assigned_user_changed([open_sync], "AIKO", D)
    assert (same.close, same.delete, same.open_for) == ([], [], None)
    # a second change on the day the open period began: the MDM's period is replaced
    today = Entry(2, "ben", D, None, "sync")
    steps = assigned_user_changed([today], "cho", D)
    assert steps.delete == [2] and steps.open_for == "cho"
    # ...one entered by hand that day is kept, nothing opened
    by_hand = Entry(3, "ben", D, None, "manual")
    steps = assigned_user_changed([by_hand], "cho", D)
    assert (steps.close, steps.delete, steps.open_for) == ([], [], None)
    # the user removed in the MDM: closed, nothing opened
    steps = assigned_user_changed([open_sync], None, D)
    assert steps.close == [(1, D - timedelta(days=1))] and steps.open_for is None
    # a hand-written period reaching the day of the change: no new period over it
    planned = Entry(4, "dan", D - timedelta(days=2), D + timedelta(days=3), "manual")
    steps = assigned_user_changed([planned], "ben", D)
    assert steps.open_for is None
    # no period yet: one opens
    assert assigned_user_changed([], "ben", D).open_for == "ben"


@pytest.mark.unit
@pytest.mark.rule("R-C3", "R-C4", "R-M14")
def test_the_examples_of_the_new_paths_are_valid_instances() -> None:
    """The OpenAPI examples of usage history, custom field administration and the sync-run detail
    are exact: each validates against its own model, and the document carries them."""
    from pydantic import BaseModel, SecretStr

    from ledger_api.api import custom_fields, schemas, usage_history
    from ledger_api.app import build_app
    from ledger_api.settings import Settings

    models: list[type[BaseModel]] = [
        usage_history.UsagePeriod,
        usage_history.UsagePeriodPage,
        usage_history.UsagePeriodInput,
        usage_history.UsagePeriodPatch,
        custom_fields.CustomFieldIn,
        custom_fields.CustomFieldPatch,
        custom_fields.CustomField,
        custom_fields.CustomFieldDeleted,
        schemas.SyncRunDetail,
    ]
    for model in models:
        examples = model.model_json_schema()["examples"]
        assert examples, model.__name__
        for example in examples:
            model.model_validate(example)
    document = build_app(Settings(database_url=SecretStr("postgresql://openapi-only/none"))).openapi()
    components = document["components"]["schemas"]
    for name in (
        "UsagePeriodPage",
        "UsagePeriodInput",
        "CustomFieldPatch",
        "CustomFieldDeleted",
        "SyncRunDetail",
    ):
        assert components[name]["examples"], name
    paths = document["paths"]
    assert set(paths["/v1/devices/{device_id}/usage-history"]) == {"get", "post"}
    assert set(paths["/v1/devices/{device_id}/usage-history/{entry_id}"]) == {"patch", "delete"}
    assert {"patch", "delete"} <= set(paths["/v1/custom-fields/{name}"])
