"""R-M6 evidence: both simulators count every request that could change the MDM (not GET/HEAD),
count token requests apart, and never count their own control API."""

from __future__ import annotations

import httpx
import pytest

from mdm_sim.graph import GraphSimConfig, build_graph_app
from mdm_sim.jamf import JamfSim, build_jamf_app, generate_computers

pytestmark = pytest.mark.unit  # in-process ASGI: no sockets


async def test_graph_counts_writes_apart_from_reads_and_token_requests() -> None:
    config = GraphSimConfig(devices=5, seed=1)
    app = build_graph_app(config)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://graph.sim") as c:
        assert (await c.get("/_sim/requests")).json()["writes"] == 0
        form = {
            "grant_type": "client_credentials",
            "client_id": config.client_id,
            "client_secret": config.client_secret,
            "scope": "https://graph.microsoft.com/.default",
        }
        token = (await c.post(f"/{config.tenant_id}/oauth2/v2.0/token", data=form)).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/v1.0/deviceManagement/managedDevices", headers=auth)).status_code == 200
        await c.post("/_sim/devices", json={"deviceName": "control API, not the MDM"})
        counts = (await c.get("/_sim/requests")).json()
        assert counts == {"reads": 1, "token_requests": 1, "writes": 0, "write_samples": []}
        # Anything else than GET/HEAD on the MDM's API is a write, even where nothing is served.
        await c.patch("/v1.0/deviceManagement/managedDevices/abc", headers=auth, json={"notes": "x"})
        await c.post("/v1.0/deviceManagement/managedDevices/abc/retire", headers=auth)
        await c.delete("/v1.0/deviceManagement/managedDevices/abc", headers=auth)
        counts = (await c.get("/_sim/requests")).json()
    assert counts["writes"] == 3 and counts["reads"] == 1 and counts["token_requests"] == 1
    assert counts["write_samples"] == [
        "PATCH /v1.0/deviceManagement/managedDevices/abc",
        "POST /v1.0/deviceManagement/managedDevices/abc/retire",
        "DELETE /v1.0/deviceManagement/managedDevices/abc",
    ]


async def test_jamf_counts_writes_apart_from_reads_and_token_requests() -> None:
    sim = JamfSim(generate_computers(5, seed=1), [])
    app = build_jamf_app(sim)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="https://jamf.sim") as c:
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
        }
        token = (await c.post("/api/oauth/token", data=form)).json()["access_token"]
        basic = (await c.post("/api/v1/auth/token", auth=(sim.config.username, sim.config.password))).json()
        await c.post("/api/v1/auth/keep-alive", headers={"Authorization": f"Bearer {basic['token']}"})
        auth = {"Authorization": f"Bearer {token}"}
        assert (await c.get("/api/v1/computers-inventory", headers=auth)).status_code == 200
        await c.patch("/_sim/computers/1", json={"general": {"name": "control API"}})
        assert (await c.get("/_sim/requests")).json() == {
            "reads": 1,
            "token_requests": 3,
            "writes": 0,
            "write_samples": [],
        }
        await c.delete("/api/v1/computers-inventory/1", headers=auth)
        await c.put("/api/v1/computers-inventory-detail/1", headers=auth, json={})
        await c.post("/api/v1/mdm/commands", headers=auth, json={})
        counts = (await c.get("/_sim/requests")).json()
    assert counts["writes"] == 3 and counts["reads"] == 1 and counts["token_requests"] == 3
    assert counts["write_samples"][0] == "DELETE /api/v1/computers-inventory/1"
