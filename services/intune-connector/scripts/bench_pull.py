"""Measure one connector pull: Graph simulator -> translate -> publish to the broker. Not a test.

    .venv/bin/python services/intune-connector/scripts/bench_pull.py --devices 100000 [--runs 2]

The simulator runs as its own process (as in the demo and `make bench`), the broker is the embedded
Tansu (or $KAFKA_BOOTSTRAP_SERVERS). Prints seconds, devices/s and the connector's peak RSS.
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
from intune_connector.service import build_app
from intune_connector.settings import Integration, Settings
from ledger_contracts import MasterLinkSettings, SyncRequested


async def bench(bootstrap: str, sim: dict[str, str], runs: int) -> None:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    keys = ("azure_tenant_id", "client_id", "client_secret", "authority_url", "graph_base_url")
    integration = Integration(integration_id="bench", ca_bundle=sim["ca"], **{k: sim[k] for k in keys})
    app = build_app(settings, integrations={"bench": integration})
    link = MasterLinkSettings(master_link_id="ml", integration_id="bench", mdm_kind="intune")
    try:
        for i in range(runs):
            request = SyncRequested(tenant_id="bench", sync_run_id=uuid.uuid4(), master_link=link)
            t = time.perf_counter()
            result = await app.pull(integration, request)
            seconds = time.perf_counter() - t
            line = {
                "run": i + 1,
                "status": result.status,
                "devices": result.devices_observed,
                "pages": result.pages,
                "seconds": round(seconds, 2),
                "devices_per_s": round(result.devices_observed / seconds),
            }
            print(json.dumps(line), flush=True)
    finally:
        await app.close()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"connector_process_peak_rss_mib": round(peak, 1)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=2, help="the second run is served from the page cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as d:
        root = Path(d)
        broker = infra.start_broker(root / "logs")
        cmd = [
            sys.executable,
            "-m",
            "mdm_sim",
            "graph",
            "--cert-dir",
            str(root / "certs"),
            "--devices",
            str(args.devices),
        ]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            sim = json.loads(proc.stdout.readline())
            print(
                json.dumps(
                    {"simulator_ready_s": round(time.perf_counter() - t, 2), "devices": sim["devices"]}
                )
            )
            asyncio.run(bench(broker.bootstrap_servers, sim, args.runs))
        finally:
            proc.terminate()
            proc.wait(10)
            broker.stop()


if __name__ == "__main__":
    main()
