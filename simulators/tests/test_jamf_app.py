"""The Jamf simulator's API as a client sees it: tokens, versions, paging, sections, faults, controls."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from mdm_sim.jamf import (
    Fault,
    JamfSim,
    SimConfig,
    build_jamf_app,
    generate_computers,
    generate_mobiles,
)
from mdm_sim.jamf.state import QUOTA_VIOLATION_BODY

pytestmark = pytest.mark.unit  # in-process ASGI: no network at all

SECTIONS = ["GENERAL", "HARDWARE", "OPERATING_SYSTEM", "USER_AND_LOCATION", "STORAGE"]


@pytest.fixture
def sim() -> JamfSim:
    return JamfSim(generate_computers(4500, seed=2), generate_mobiles(300, seed=2))


@pytest.fixture
async def api(sim: JamfSim) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_jamf_app(sim))
    async with httpx.AsyncClient(transport=transport, base_url="http://jamf.sim") as client:
        yield client


async def oauth_token(api: httpx.AsyncClient, sim: JamfSim) -> str:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.config.client_id,
        "client_secret": sim.config.client_secret,
    }
    response = await api.post("/api/oauth/token", data=form)
    assert response.status_code == 200
    return str(response.json()["access_token"])


async def get(api: httpx.AsyncClient, token: str, path: str, **params: Any) -> httpx.Response:
    query = [
        (k.replace("_", "-"), v) for k, vs in params.items() for v in (vs if isinstance(vs, list) else [vs])
    ]
    return await api.get(path, params=query, headers={"Authorization": f"Bearer {token}"})


# --- tokens --------------------------------------------------------------------------------------


async def test_oauth_token_reply_and_errors(api: httpx.AsyncClient, sim: JamfSim) -> None:
    form = {"grant_type": "client_credentials", "client_id": sim.config.client_id, "client_secret": "nope"}
    bad = await api.post("/api/oauth/token", data=form)
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_client"
    wrong_grant = await api.post("/api/oauth/token", data={**form, "grant_type": "password"})
    assert wrong_grant.json()["error"] == "unsupported_grant_type"
    good = await api.post("/api/oauth/token", data={**form, "client_secret": sim.config.client_secret})
    body = good.json()
    assert set(body) == {"access_token", "expires_in", "scope", "token_type"}
    assert body["token_type"] == "Bearer" and body["expires_in"] == sim.config.oauth_token_lifetime_s


async def test_user_token_keep_alive_replaces_the_token(api: httpx.AsyncClient, sim: JamfSim) -> None:
    basic = base64.b64encode(f"{sim.config.username}:{sim.config.password}".encode()).decode()
    assert (await api.post("/api/v1/auth/token", headers={"Authorization": "Basic eDp5"})).status_code == 401
    first = (await api.post("/api/v1/auth/token", headers={"Authorization": f"Basic {basic}"})).json()
    assert set(first) == {"token", "expires"} and first["expires"].endswith("Z")
    renewed = await api.post("/api/v1/auth/keep-alive", headers={"Authorization": f"Bearer {first['token']}"})
    assert renewed.status_code == 200 and renewed.json()["token"] != first["token"]
    assert (await get(api, first["token"], "/api/v4/computers-inventory")).status_code == 401  # replaced
    assert (await get(api, renewed.json()["token"], "/api/v4/computers-inventory")).status_code == 200


async def test_oauth_tokens_cannot_be_kept_alive(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    response = await api.post("/api/v1/auth/keep-alive", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


async def test_tokens_expire(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    assert (await get(api, token, "/api/v1/jamf-pro-version")).status_code == 200
    sim.tokens[token].expires_at = time.time() - 1
    response = await get(api, token, "/api/v4/computers-inventory")
    assert response.status_code == 401 and response.json()["errors"][0]["code"] == "INVALID_TOKEN"


async def test_inventory_needs_a_token(api: httpx.AsyncClient) -> None:
    assert (await api.get("/api/v4/computers-inventory")).status_code == 401
    assert (await api.get("/api/v2/mobile-devices/detail")).status_code == 401


# --- versions, paging, sections ------------------------------------------------------------------


async def test_unserved_versions_are_404(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    sim.config.computer_versions = ("v3", "v1")
    assert (await get(api, token, "/api/v4/computers-inventory")).status_code == 404
    assert (await get(api, token, "/api/v2/computers-inventory")).status_code == 404
    assert (await get(api, token, "/api/v3/computers-inventory")).status_code == 200


async def test_page_size_is_clamped_silently_to_2000(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    for asked in (2001, 5000, 20000):
        body = (await get(api, token, "/api/v4/computers-inventory", page_size=asked)).json()
        assert (body["totalCount"], len(body["results"])) == (4500, 2000)
    page1 = (
        await get(api, token, "/api/v4/computers-inventory", page=1, page_size=5000, sort="id:asc")
    ).json()
    page1_2000 = (
        await get(api, token, "/api/v4/computers-inventory", page=1, page_size=2000, sort="id:asc")
    ).json()
    assert page1 == page1_2000  # offsets follow the clamped size


async def test_pages_cover_everything_once_sorted_by_numeric_id(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    ids: list[int] = []
    for page in range(3):
        body = (
            await get(api, token, "/api/v4/computers-inventory", page=page, page_size=2000, sort="id:asc")
        ).json()
        ids += [int(r["id"]) for r in body["results"]]
    assert ids == sorted(ids) and len(ids) == len(set(ids)) == 4500
    last = (await get(api, token, "/api/v4/computers-inventory", page=3, page_size=2000)).json()
    assert last == {"totalCount": 4500, "results": []}
    desc = (await get(api, token, "/api/v4/computers-inventory", page_size=3, sort="id:desc")).json()
    assert [int(r["id"]) for r in desc["results"]] == sorted(ids, reverse=True)[:3]


async def test_unrequested_sections_are_null(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    default = (await get(api, token, "/api/v4/computers-inventory", page_size=1)).json()["results"][0]
    assert default["general"] is not None and default["hardware"] is None and default["storage"] is None
    assert {"id", "udid", "diskEncryption", "applications"} <= set(default)
    chosen = (await get(api, token, "/api/v4/computers-inventory", page_size=1, section=SECTIONS)).json()[
        "results"
    ][0]
    assert all(
        chosen[k] is not None
        for k in ("general", "hardware", "operatingSystem", "userAndLocation", "storage")
    )
    assert chosen["purchasing"] is None
    joined = await get(api, token, "/api/v4/computers-inventory", page_size=1, section="GENERAL,HARDWARE")
    assert joined.json()["results"][0]["hardware"] is not None  # the SDK's comma-joined form works too
    mobile = (await get(api, token, "/api/v2/mobile-devices/detail", page_size=1, section="HARDWARE")).json()
    assert mobile["results"][0]["hardware"]["modelIdentifier"]
    assert mobile["results"][0]["general"] is None and mobile["results"][0]["mobileDeviceId"] == "1"


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/v4/computers-inventory", {"section": "NOT_A_SECTION"}),
        ("/api/v2/mobile-devices/detail", {"section": "STORAGE"}),  # a computer section
        ("/api/v4/computers-inventory", {"sort": "general.colour:asc"}),
        ("/api/v4/computers-inventory", {"page_size": 0}),
        ("/api/v4/computers-inventory", {"page": -1}),
        ("/api/v4/computers-inventory", {"filter": "id>>3"}),
        ("/api/v4/computers-inventory", {"filter": "general.colour==red"}),
    ],
)
async def test_bad_parameters_are_400(
    api: httpx.AsyncClient, sim: JamfSim, path: str, params: dict[str, Any]
) -> None:
    token = await oauth_token(api, sim)
    response = await get(api, token, path, **params)
    assert response.status_code == 400 and response.json()["httpStatus"] == 400


async def test_rsql_filter_on_ids(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    body = (
        await get(api, token, "/api/v4/computers-inventory", filter="(id>3;id<7),id>=4500", page_size=2000)
    ).json()
    expected = sorted(int(i) for i in sim.devices["computer"] if 3 < int(i) < 7 or int(i) >= 4500)
    assert [int(r["id"]) for r in body["results"]] == expected and body["totalCount"] == len(expected)
    mobiles = (
        await get(api, token, "/api/v2/mobile-devices/detail", filter="mobileDeviceId=in=(2,5)")
    ).json()
    assert [r["mobileDeviceId"] for r in mobiles["results"]] == ["2", "5"]


# --- faults and controls -------------------------------------------------------------------------


async def test_faults_429_with_retry_after_and_quota_violation(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    sim.faults += [
        Fault(status=429, count=1, retry_after=2),
        Fault(status=500, count=1, quota_violation=True),
    ]
    throttled = await get(api, token, "/api/v4/computers-inventory")
    assert throttled.status_code == 429 and throttled.headers["retry-after"] == "2"
    quota = await get(api, token, "/api/v4/computers-inventory")
    assert quota.status_code == 500 and quota.json() == QUOTA_VIOLATION_BODY
    assert (await get(api, token, "/api/v4/computers-inventory")).status_code == 200
    assert sim.stats["faults"] == 2


async def test_faults_via_the_control_api_match_paths(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    assert (
        await api.post("/_sim/faults", json={"status": 503, "count": 2, "path": "mobile-devices"})
    ).status_code == 204
    assert (await get(api, token, "/api/v4/computers-inventory")).status_code == 200
    assert (await get(api, token, "/api/v2/mobile-devices/detail")).status_code == 503
    await api.delete("/_sim/faults")
    assert (await get(api, token, "/api/v2/mobile-devices/detail")).status_code == 200


async def test_mutations_and_schedule(api: httpx.AsyncClient, sim: JamfSim) -> None:
    token = await oauth_token(api, sim)
    added = await api.post("/_sim/computers", json={"id": "99999", "general": {"name": "new"}})
    assert added.status_code == 201 and added.json() == {"ids": ["99999"]}
    patched = await api.patch("/_sim/computers/99999", json={"general": {"assetTag": "1A"}})
    assert patched.json()["general"] == {"name": "new", "assetTag": "1A"}
    assert (await api.delete("/_sim/mobiles/1")).status_code == 204
    assert (await api.delete("/_sim/mobiles/1")).status_code == 404
    body = (await get(api, token, "/api/v2/mobile-devices/detail", page_size=1)).json()
    assert body["totalCount"] == 299 and body["results"][0]["mobileDeviceId"] == "2"

    await api.post("/_sim/schedule", json={"after_pages": 1, "action": "revoke_tokens"})
    assert (await get(api, token, "/api/v4/computers-inventory")).status_code == 200  # page 1 served
    assert (await get(api, token, "/api/v4/computers-inventory")).status_code == 401  # then revoked
    stats = (await api.get("/_sim/stats")).json()
    assert stats["computers"] == 4501 and stats["mobiles"] == 299 and stats["unauthorized"] == 1


async def test_config_changes_via_the_control_api(api: httpx.AsyncClient, sim: JamfSim) -> None:
    response = await api.patch(
        "/_sim/config", json={"computer_versions": ["v1"], "oauth_token_lifetime_s": 5}
    )
    assert (
        response.status_code == 200
        and "client_secret" not in response.json()
        and "password" not in response.json()
    )
    assert sim.config.computer_versions == ("v1",) and sim.config.oauth_token_lifetime_s == 5
    assert (await api.patch("/_sim/config", json={"colour": "red"})).status_code == 400


def test_a_full_2000_device_page_holds_2000_devices_in_id_order() -> None:
    """(Its speed is measured by simulators/bench_generate.py, not asserted here.)"""
    sim = JamfSim(generate_computers(5000, seed=1), [], SimConfig())
    body = json.loads(sim.page("computer", 1, 2000, "id:asc", SECTIONS))
    ids = [int(r["id"]) for r in body["results"]]
    assert body["totalCount"] == 5000 and len(ids) == 2000 and ids == sorted(ids)
    assert ids[0] == sorted(int(c["id"]) for c in sim.devices["computer"].values())[2000]
