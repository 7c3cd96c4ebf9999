"""Each bad-input switch of both simulators (mdm_sim.badinput, issue 9 item 7) breaks exactly what
it says on the page it says, once (or `times`), and the next pull is clean again."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mdm_sim.badinput import HUGE, MODES
from mdm_sim.graph import GraphSimConfig, build_graph_app
from mdm_sim.jamf import JamfSim, build_jamf_app, generate_computers

pytestmark = pytest.mark.unit  # in-process ASGI: no sockets

GRAPH_LIST = "/v1.0/deviceManagement/managedDevices"


@pytest.fixture
async def graph() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    config = GraphSimConfig(devices=25, seed=3)
    app = build_graph_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://graph.sim") as c:
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        token = (await c.post(f"/{config.tenant_id}/oauth2/v2.0/token", data=form)).json()["access_token"]
        yield c, {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def jamf() -> AsyncIterator[tuple[httpx.AsyncClient, dict[str, str]]]:
    sim = JamfSim(generate_computers(25, seed=3), [])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=build_jamf_app(sim)), base_url="https://jamf.sim"
    ) as c:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
        }
        token = (await c.post("/api/oauth/token", data=form)).json()["access_token"]
        yield c, {"Authorization": f"Bearer {token}"}


async def graph_pages(c: httpx.AsyncClient, auth: dict[str, str]) -> list[httpx.Response]:
    """Follow nextLinks from page 1 ($top=10: 3 pages) until an error, a broken page or the end."""
    out, url = [], f"{GRAPH_LIST}?$top=10"
    while url and len(out) < 5:
        r = await c.get(url, headers=auth)
        out.append(r)
        try:
            url = r.json().get("@odata.nextLink") if r.status_code == 200 else None
        except (ValueError, UnicodeDecodeError):
            url = None
    return out


async def jamf_pages(c: httpx.AsyncClient, auth: dict[str, str]) -> list[httpx.Response]:
    path = "/api/v1/computers-inventory"
    params = {"page-size": "10", "section": "GENERAL,HARDWARE"}
    return [await c.get(path, params={**params, "page": str(p)}, headers=auth) for p in range(3)]


def body(r: httpx.Response) -> Any:
    return json.loads(r.content)


def not_json(raw: bytes) -> bool:
    try:
        json.loads(raw)
    except ValueError:
        return True
    return False


def not_utf8(raw: bytes) -> bool:
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return True
    return False


GRAPH_CHECKS: dict[str, Any] = {
    "truncated_json": lambda p: len(p) == 1 and not_json(p[0].content),
    "invalid_utf8": lambda p: not_utf8(p[0].content),
    "nextlink_loop": lambda p: (
        len(p) == 5 and body(p[0])["@odata.nextLink"].endswith(f"{GRAPH_LIST}?$top=10")
    ),
    "lying_total": lambda p: body(p[0])["@odata.count"] == 30 and len(p) == 3,
    "unauthorized_mid_pull": lambda p: (
        [r.status_code for r in p] == [200, 401]
        and body(p[1])["error"]["code"] == "InvalidAuthenticationToken"
    ),
    "error_on_last_page": lambda p: [r.status_code for r in p] == [200, 200, 500],
    "duplicate_id": lambda p: body(p[1])["value"][0]["id"] == body(p[0])["value"][0]["id"],
    "huge_string": lambda p: len(body(p[0])["value"][0]["model"]) == HUGE,
    "wrong_types": lambda p: (
        body(p[0])["value"][0]["serialNumber"] == 12345
        and body(p[0])["value"][0]["enrolledDateTime"] == [2024]
    ),
    "null_object": lambda p: body(p[0])["value"][0] is None and body(p[0])["value"][1] is not None,
}
JAMF_CHECKS: dict[str, Any] = {
    "truncated_json": lambda p: not_json(p[0].content),
    "invalid_utf8": lambda p: not_utf8(p[0].content),
    "nextlink_loop": lambda p: [body(r)["totalCount"] for r in p] == [25, 25, 25],  # no links in Jamf
    "lying_total": lambda p: body(p[0])["totalCount"] == 30 and body(p[1])["totalCount"] == 25,
    "unauthorized_mid_pull": lambda p: [r.status_code for r in p] == [200, 401, 200],
    "error_on_last_page": lambda p: [r.status_code for r in p] == [200, 200, 500],
    "duplicate_id": lambda p: body(p[1])["results"][0]["id"] == body(p[0])["results"][0]["id"],
    "huge_string": lambda p: len(body(p[0])["results"][0]["general"]["name"]) == HUGE,
    "wrong_types": lambda p: body(p[0])["results"][0]["hardware"]["serialNumber"] == 12345,
    "null_object": lambda p: body(p[0])["results"][0]["hardware"] is None,
}
PAGE = {"unauthorized_mid_pull": 2}


def test_every_mode_has_a_check_on_both_simulators() -> None:
    assert set(GRAPH_CHECKS) == set(JAMF_CHECKS) == set(MODES)


@pytest.mark.parametrize("mode", MODES)
async def test_graph_switch_breaks_its_page_once(
    graph: tuple[httpx.AsyncClient, dict[str, str]], mode: str
) -> None:
    c, auth = graph
    clean = await graph_pages(c, auth)
    assert [r.status_code for r in clean] == [200, 200, 200]
    times = 5 if mode == "nextlink_loop" else 1
    switch = {"mode": mode, "times": times} | ({"page": PAGE[mode]} if mode in PAGE else {})
    assert (await c.post("/_sim/bad-input", json=switch)).status_code == 201
    assert GRAPH_CHECKS[mode](await graph_pages(c, auth))
    again = await graph_pages(c, auth)  # spent: the next pull is clean
    assert [r.content for r in again] == [r.content for r in clean]


@pytest.mark.parametrize("mode", MODES)
async def test_jamf_switch_breaks_its_page_once(
    jamf: tuple[httpx.AsyncClient, dict[str, str]], mode: str
) -> None:
    c, auth = jamf
    clean = await jamf_pages(c, auth)
    switch = {"mode": mode} | ({"page": PAGE[mode]} if mode in PAGE else {})
    assert (await c.post("/_sim/bad-input", json=switch)).status_code == 201
    assert JAMF_CHECKS[mode](await jamf_pages(c, auth))
    again = await jamf_pages(c, auth)
    assert [r.content for r in again] == [r.content for r in clean]


async def test_unknown_modes_are_refused_and_switches_can_be_listed_and_cleared(
    graph: tuple[httpx.AsyncClient, dict[str, str]], jamf: tuple[httpx.AsyncClient, dict[str, str]]
) -> None:
    for c, _ in (graph, jamf):
        assert (await c.post("/_sim/bad-input", json={"mode": "gremlins"})).status_code == 422
        await c.post("/_sim/bad-input", json=[{"mode": "lying_total", "times": -1}])
        assert [b["mode"] for b in (await c.get("/_sim/bad-input")).json()] == ["lying_total"]
        assert (await c.delete("/_sim/bad-input")).status_code == 204
        assert (await c.get("/_sim/bad-input")).json() == []
