"""The Graph simulator as a real MSAL + httpx client sees it: over TLS, with Graph's shapes and faults."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import msal
import pytest
import requests

from mdm_sim.graph import DEVICES_FILE_ENV, GRAPH_SCOPE, GraphSimConfig, RunningGraphSim, running_graph_sim

pytestmark = pytest.mark.integration  # a local TLS server


@pytest.fixture
def sim() -> Iterator[RunningGraphSim]:
    with running_graph_sim(GraphSimConfig(devices=2500, seed=5)) as running:
        yield running


def msal_app(sim: RunningGraphSim, secret: str | None = None) -> msal.ConfidentialClientApplication:
    session = requests.Session()
    session.verify = str(sim.ca_pem)
    session.trust_env = False
    return msal.ConfidentialClientApplication(
        sim.client_id,
        authority=sim.authority_url,
        client_credential=secret or sim.client_secret,
        http_client=session,
        instance_discovery=False,
    )


def token(sim: RunningGraphSim) -> str:
    return str(msal_app(sim).acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"])


def client(sim: RunningGraphSim) -> httpx.Client:
    return httpx.Client(verify=ssl.create_default_context(cafile=str(sim.ca_pem)), trust_env=False)


LIST = "/v1.0/deviceManagement/managedDevices"


def get(sim: RunningGraphSim, url: str, bearer: str | None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    with client(sim) as c:
        return c.get(url if url.startswith("https://") else sim.base_url + url, headers=headers)


def crawl(sim: RunningGraphSim, first: str, bearer: str) -> list[dict[str, Any]]:
    pages, url = [], first
    while url:
        resp = get(sim, url, bearer)
        assert resp.status_code == 200, resp.text
        pages.append(resp.json())
        url = pages[-1].get("@odata.nextLink")
    return pages


# --- Entra ID ------------------------------------------------------------------------------------


def test_msal_gets_a_token_and_serves_the_next_call_from_its_cache(sim: RunningGraphSim) -> None:
    app = msal_app(sim)
    first = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert first["token_type"] == "Bearer" and first["expires_in"] == 3599
    assert first["access_token"].count(".") == 2  # JWT-shaped
    assert app.acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"] == first["access_token"]
    assert sim.control("GET", "/stats")["tokens_issued"] == 1


def test_wrong_secret_is_aadsts7000215(sim: RunningGraphSim) -> None:
    result = msal_app(sim, secret="not-the-secret").acquire_token_for_client(scopes=[GRAPH_SCOPE])
    assert result["error"] == "invalid_client"
    assert result["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert result["error_codes"] == [7000215]


def test_token_endpoint_checks_scope_client_and_tenant(sim: RunningGraphSim) -> None:
    form = {
        "grant_type": "client_credentials",
        "client_id": sim.client_id,
        "client_secret": sim.client_secret,
    }
    with client(sim) as c:
        url = f"{sim.authority_url}/oauth2/v2.0/token"
        assert c.post(url, data={**form, "scope": "https://graph.microsoft.com/.default"}).status_code == 200
        bad_scope = c.post(url, data={**form, "scope": "User.Read"})
        assert (bad_scope.status_code, bad_scope.json()["error"]) == (400, "invalid_scope")
        bad_client = c.post(url, data={**form, "client_id": "nope", "scope": GRAPH_SCOPE})
        assert bad_client.json()["error_codes"] == [700016]
        other_tenant = c.post(f"{sim.base_url}/other/oauth2/v2.0/token", data={**form, "scope": GRAPH_SCOPE})
        assert other_tenant.json()["error"] == "invalid_tenant"
        basic = c.post(
            url,
            data={"grant_type": "client_credentials", "scope": GRAPH_SCOPE},
            auth=(sim.client_id, sim.client_secret),
        )
        assert basic.status_code == 200


def test_openid_configuration_points_msal_at_the_simulator(sim: RunningGraphSim) -> None:
    with client(sim) as c:
        config = c.get(f"{sim.authority_url}/v2.0/.well-known/openid-configuration").json()
    assert config["token_endpoint"] == f"{sim.authority_url}/oauth2/v2.0/token"
    assert config["authorization_endpoint"].startswith(sim.base_url)


# --- Graph list ----------------------------------------------------------------------------------


def test_paging_select_count_and_absolute_next_links(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    pages = crawl(sim, f"{LIST}?$select=id,deviceName,serialNumber&$top=1000", bearer)
    assert [len(p["value"]) for p in pages] == [1000, 1000, 500]
    assert all(p["@odata.count"] == 2500 for p in pages)
    assert pages[0]["@odata.context"].endswith(
        "$metadata#deviceManagement/managedDevices(id,deviceName,serialNumber)"
    )
    assert all(set(d) == {"id", "deviceName", "serialNumber"} for p in pages for d in p["value"])
    ids = [d["id"] for p in pages for d in p["value"]]
    assert len(ids) == len(set(ids)) == 2500
    link = pages[0]["@odata.nextLink"]
    assert link.startswith(f"{sim.base_url}{LIST}?")
    query = parse_qs(urlsplit(link).query)
    assert query["$top"] == ["1000"] and query["$skiptoken"][0].startswith("LastDeviceName='")
    assert "@odata.nextLink" not in pages[-1]


def test_top_defaults_to_and_is_capped_at_1000(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    assert len(get(sim, LIST, bearer).json()["value"]) == 1000
    assert len(get(sim, f"{LIST}?$top=5000", bearer).json()["value"]) == 1000
    assert len(get(sim, f"{LIST}?$top=7", bearer).json()["value"]) == 7
    assert get(sim, f"{LIST}?$top=0", bearer).status_code == 400


def test_unknown_select_property_and_bad_skiptoken_are_400(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    resp = get(sim, f"{LIST}?$select=id,nonsense", bearer)
    assert resp.status_code == 400 and "nonsense" in resp.json()["error"]["message"]
    assert get(sim, f"{LIST}?$skiptoken=garbage", bearer).status_code == 400


def test_401_without_expired_or_revoked_token(sim: RunningGraphSim) -> None:
    missing = get(sim, LIST, None)
    assert missing.status_code == 401 and missing.json()["error"]["code"] == "InvalidAuthenticationToken"
    assert "Bearer" in missing.headers["WWW-Authenticate"]
    assert get(sim, LIST, "forged.token.value").status_code == 401
    bearer = token(sim)
    assert get(sim, LIST, bearer).status_code == 200
    sim.control("POST", "/tokens/expire")
    expired = get(sim, LIST, bearer)
    assert expired.status_code == 401
    assert expired.json()["error"]["message"] == "Lifetime validation failed, the token is expired."


def test_short_token_lifetime_expires_while_msal_still_trusts_it() -> None:
    config = GraphSimConfig(devices=10, token_lifetime_s=0.0, reported_expires_in=3599)
    with running_graph_sim(config) as sim:
        app = msal_app(sim)
        bearer = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"]
        assert app.acquire_token_for_client(scopes=[GRAPH_SCOPE])["access_token"] == bearer  # cached
        assert get(sim, LIST, bearer).status_code == 401


# --- faults --------------------------------------------------------------------------------------


def test_429_with_and_without_retry_after_then_recovery(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    sim.control(
        "POST", "/faults", [{"status": 429, "retry_after": "0.05", "page": 2}, {"status": 429, "page": 3}]
    )
    first = get(sim, LIST, bearer).json()
    throttled = get(sim, first["@odata.nextLink"], bearer)
    assert throttled.status_code == 429 and throttled.headers["Retry-After"] == "0.05"
    assert throttled.json()["error"]["code"] == "TooManyRequests"
    second = get(sim, first["@odata.nextLink"], bearer)  # the same link again: served
    assert second.status_code == 200
    no_header = get(sim, second.json()["@odata.nextLink"], bearer)
    assert no_header.status_code == 429 and "Retry-After" not in no_header.headers
    assert get(sim, second.json()["@odata.nextLink"], bearer).status_code == 200


@pytest.mark.parametrize("status", [503, 504, 500, 502])
def test_5xx_at_a_request_number(sim: RunningGraphSim, status: int) -> None:
    bearer = token(sim)
    sim.control("POST", "/faults", {"status": status, "request": 2, "times": 2})
    assert get(sim, LIST, bearer).status_code == 200
    assert get(sim, LIST, bearer).status_code == status
    assert get(sim, LIST, bearer).status_code == status
    assert get(sim, LIST, bearer).status_code == 200
    faults = sim.control("GET", "/faults")
    assert faults[0]["fired"] == 2


def test_persistent_fault_until_cleared(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    sim.control("POST", "/faults", {"status": 503, "times": -1})
    assert all(get(sim, LIST, bearer).status_code == 503 for _ in range(5))
    sim.control("DELETE", "/faults")
    assert get(sim, LIST, bearer).status_code == 200


def test_token_endpoint_faults() -> None:
    with running_graph_sim(GraphSimConfig(devices=1, faults=[{"status": 503, "endpoint": "token"}])) as sim:
        with pytest.raises(msal.exceptions.MsalServiceError, match="503"):  # MSAL raises on a 5xx
            msal_app(sim).acquire_token_for_client(scopes=[GRAPH_SCOPE])
        assert sim.control("GET", "/stats")["token_requests"] == 1


def test_invalid_fault_is_rejected(sim: RunningGraphSim) -> None:
    with pytest.raises(httpx.HTTPStatusError):
        sim.control("POST", "/faults", {"status": 200})


# --- devices: mutation, files, cache ---------------------------------------------------------------


def test_mutations_show_up_in_the_next_listing(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    before = {d["id"]: d for p in crawl(sim, LIST, bearer) for d in p["value"]}
    victim, changed = list(before)[:2]
    sim.control("DELETE", f"/devices/{victim}")
    sim.control("PUT", f"/devices/{changed}", {"serialNumber": "NEW-SERIAL", "id": "ignored"})
    added = sim.control("POST", "/devices", {"deviceName": "ADDED-1", "serialNumber": "ADD1"})
    after = {d["id"]: d for p in crawl(sim, LIST, bearer) for d in p["value"]}
    assert victim not in after and added["id"] in after
    assert after[changed]["serialNumber"] == "NEW-SERIAL"
    assert len(after) == 2500
    with pytest.raises(httpx.HTTPStatusError):
        sim.control("DELETE", f"/devices/{victim}")
    sim.control("PUT", "/devices", {"value": [{"id": "only", "deviceName": "one"}]})
    assert [d["id"] for p in crawl(sim, LIST, bearer) for d in p["value"]] == ["only"]


def test_unchanged_pages_come_from_the_cache_and_mutations_invalidate_it(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    store = sim.sim.store  # type: ignore[union-attr]
    body = get(sim, f"{LIST}?$top=10", bearer).content
    assert get(sim, f"{LIST}?$top=10", bearer).content == body
    assert len(store._cache) == 1
    first_id = json.loads(body)["value"][0]["id"]
    sim.control("PUT", f"/devices/{first_id}", {"model": "Changed"})
    assert json.loads(get(sim, f"{LIST}?$top=10", bearer).content)["value"][0]["model"] == "Changed"


def test_devices_from_the_env_file_plus_extra_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "base.json").write_text(json.dumps({"value": [{"id": "b1", "deviceName": "B"}]}))
    (tmp_path / "extra.json").write_text(json.dumps([{"id": "e1", "deviceName": "E"}]))
    monkeypatch.setenv(DEVICES_FILE_ENV, str(tmp_path / "base.json"))
    with running_graph_sim(GraphSimConfig(devices=99, extra_device_files=[tmp_path / "extra.json"])) as sim:
        ids = [d["id"] for p in crawl(sim, LIST, token(sim)) for d in p["value"]]
    assert ids == ["b1", "e1"]


def test_a_device_renamed_mid_crawl_is_seen_twice_like_on_real_graph(sim: RunningGraphSim) -> None:
    bearer = token(sim)
    first = get(sim, f"{LIST}?$top=1000", bearer).json()
    seen_id = first["value"][0]["id"]
    sim.control("PUT", f"/devices/{seen_id}", {"deviceName": "zzzz-renamed"})
    rest = crawl(sim, first["@odata.nextLink"], bearer)
    ids = [d["id"] for d in first["value"]] + [d["id"] for p in rest for d in p["value"]]
    assert ids.count(seen_id) == 2 and len(set(ids)) == 2500
