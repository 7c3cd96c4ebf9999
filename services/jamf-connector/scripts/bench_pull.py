"""Measure one connector pull: Jamf simulator -> translate -> publish to the broker. Not a test.

    .venv/bin/python services/jamf-connector/scripts/bench_pull.py --computers 15000 --mobiles 5000 [--runs 2]

The simulator runs as its own process (as in the demo), over HTTPS with its CA; the broker is the
embedded Tansu (or $KAFKA_BOOTSTRAP_SERVERS). Prints seconds, devices/s and the connector's peak RSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from devstack import infra, testing
from jamf_connector.service import build_app
from jamf_connector.settings import Settings, parse_integrations
from ledger_contracts import MasterLinkSettings, SyncRequested


async def bench(bootstrap: str, sim: dict[str, str], runs: int, page_size: int) -> None:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, page_size=page_size)
    entry = {"base_url": sim["base_url"], "ca_bundle": sim["ca"]}
    entry |= {"client_id": sim["client_id"], "client_secret": sim["client_secret"]}
    integration = parse_integrations({"bench": entry})["bench"]
    app = build_app(settings, integrations={"bench": integration})
    link = MasterLinkSettings(master_link_id="ml", integration_id="bench", mdm_kind="jamf_pro")
    try:
        for i in range(runs):
            request = SyncRequested(tenant_id="bench", sync_run_id=uuid.uuid4(), master_link=link)
            t = time.perf_counter()
            result = await app.pull(integration, request)
            seconds = time.perf_counter() - t
            line = {"run": i + 1, "status": result.status, "devices": result.devices_observed}
            line |= {"pages": result.pages, "seconds": round(seconds, 2)}
            line |= {"devices_per_s": round(result.devices_observed / seconds)}
            print(json.dumps(line), flush=True)
    finally:
        await app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"connector_process_peak_rss_mib": round(peak, 1)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--computers", type=int, default=15_000)
    parser.add_argument("--mobiles", type=int, default=5_000)
    parser.add_argument("--page-size", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-jamf-") as d:
        root = Path(d)
        broker = infra.start_broker(root / "logs")
        cmd = [sys.executable, "-m", "mdm_sim", "jamf", "--cert-dir", str(root / "certs"),
               "--computers", str(args.computers), "--mobiles", str(args.mobiles)]  # fmt: skip
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            sim = json.loads(proc.stdout.readline())
            ready = {"simulator_ready_s": round(time.perf_counter() - t, 2)}
            print(json.dumps(ready | {"computers": sim["computers"], "mobiles": sim["mobiles"]}), flush=True)
            asyncio.run(bench(broker.bootstrap_servers, sim, args.runs, args.page_size))
        finally:
            proc.terminate()
            proc.wait(10)
            broker.stop()


if __name__ == "__main__":
    main()
