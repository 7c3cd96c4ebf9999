"""`mdm-sim graph` as another process runs it: ready line, CA on disk, devices served, clean stop."""

from __future__ import annotations

import json
import signal
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from mdm_sim.proc import first_line

pytestmark = pytest.mark.integration  # a TLS server in another process, on loopback


def test_cli_serves_generated_plus_sample_devices(tmp_path: Path) -> None:
    samples = tmp_path / "samples"
    samples.mkdir()
    (samples / "page.json").write_text(json.dumps({"value": [{"id": "s1", "deviceName": "S1"}]}))
    (samples / "array.json").write_text(json.dumps([{"id": "s2", "deviceName": "S2"}, {"id": "s3"}]))
    certs = tmp_path / "certs"
    args = "--port 0 --devices 40 --seed 2 --client-secret s3cr3t".split()
    args += ["--fault", '{"status": 503, "request": 2}']
    cmd = [
        sys.executable,
        "-m",
        "mdm_sim",
        "graph",
        *args,
        "--cert-dir",
        str(certs),
        "--include-samples",
        str(samples),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        ready = json.loads(first_line(proc))
        assert ready["event"] == "graph_sim.ready" and ready["devices"] == 43
        assert Path(ready["ca"]) == certs / "ca.pem" and ready["client_secret"] == "s3cr3t"
        verify = ssl.create_default_context(cafile=ready["ca"])
        with httpx.Client(verify=verify, trust_env=False) as c:
            tok = c.post(
                f"{ready['authority_url']}/oauth2/v2.0/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": ready["client_id"],
                    "client_secret": "s3cr3t",
                    "scope": "https://graph.microsoft.com/.default",
                },
            ).json()["access_token"]
            page = c.get(
                f"{ready['graph_base_url']}/v1.0/deviceManagement/managedDevices",
                headers={"Authorization": f"Bearer {tok}"},
            ).json()
        assert page["@odata.count"] == 43
        with httpx.Client(verify=verify, trust_env=False) as c:  # the --fault: the second request fails
            url = f"{ready['graph_base_url']}/v1.0/deviceManagement/managedDevices"
            assert c.get(url, headers={"Authorization": f"Bearer {tok}"}).status_code == 503
        assert {"s1", "s2", "s3"} <= {d["id"] for d in page["value"]}
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
