"""`mdm-sim jamf` as another process runs it: ready line, CA on disk, devices served, clean stop."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from mdm_sim.jamf import generate_computers
from mdm_sim.proc import first_line

pytestmark = pytest.mark.integration  # a TLS server in another process, on loopback


def start(*args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    cmd = [sys.executable, "-m", "mdm_sim", "jamf", "--port", "0", *args]
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})}
    )
    assert proc.stdout is not None
    line = first_line(proc)
    if not line:
        proc.kill()
        raise AssertionError(proc.stderr.read() if proc.stderr else "no ready line")
    return proc, json.loads(line)


def stop(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 0


def test_https_with_generated_devices_and_chosen_versions(tmp_path: Path) -> None:
    certs = tmp_path / "certs"
    proc, ready = start(
        "--cert-dir", str(certs), "--computers", "2500", "--mobiles", "30", "--seed", "3",
        "--versions", "v3,v2", "--client-secret", "s3cr3t",
    )  # fmt: skip
    try:
        assert ready["event"] == "jamf_sim.ready" and ready["base_url"].startswith("https://")
        assert Path(ready["ca"]) == certs / "ca.pem" and ready["client_secret"] == "s3cr3t"
        assert (ready["computers"], ready["mobiles"]) == (2500, 30)
        with httpx.Client(
            base_url=ready["base_url"], verify=ssl.create_default_context(cafile=ready["ca"]), trust_env=False
        ) as c:
            form = {
                "grant_type": "client_credentials",
                "client_id": ready["client_id"],
                "client_secret": "s3cr3t",
            }
            token = c.post("/api/oauth/token", data=form).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            assert c.get("/api/v4/computers-inventory", headers=auth).status_code == 404
            page = c.get("/api/v3/computers-inventory", params={"page-size": 5000}, headers=auth).json()
            assert (page["totalCount"], len(page["results"])) == (2500, 2000)
            assert c.get("/api/v2/mobile-devices/detail", headers=auth).json()["totalCount"] == 30
    finally:
        stop(proc)


def test_plain_http_with_devices_from_files(tmp_path: Path) -> None:
    computers = tmp_path / "computers.json"
    mobiles = tmp_path / "mobiles.json"
    computers.write_text(json.dumps({"totalCount": 3, "results": generate_computers(3)}))
    mobiles.write_text(
        json.dumps([{"mobileDeviceId": "7", "deviceType": "iOS", "general": {"displayName": "x"}}])
    )
    env = {"MDM_SIM_JAMF_COMPUTERS": str(computers), "MDM_SIM_JAMF_MOBILES": str(mobiles)}
    proc, ready = start("--http", "--computers", "999", env=env)
    try:
        assert ready["base_url"].startswith("http://") and ready["ca"] is None
        assert (ready["computers"], ready["mobiles"]) == (3, 1)
        with httpx.Client(base_url=ready["base_url"], trust_env=False) as c:
            token = c.post("/api/v1/auth/token", auth=(ready["username"], ready["password"])).json()["token"]
            body = c.get("/api/v2/mobile-devices/detail", headers={"Authorization": f"Bearer {token}"}).json()
            assert body["results"][0]["mobileDeviceId"] == "7"
    finally:
        stop(proc)
