"""Measure one connector pull: simulator -> translate -> publish to the broker. Not a test.

    .venv/bin/python libs/connector-kit/scripts/bench_pull.py intune --devices 100000 [--runs 2]
    .venv/bin/python libs/connector-kit/scripts/bench_pull.py jamf --computers 15000 --mobiles 5000

One entry for both connectors (they share the kit's run skeleton and publisher). The simulator runs
as its own process (as in the demo and `make bench`), over HTTPS with its CA; the broker is the
embedded Tansu. Prints seconds, devices/s and the connector's peak RSS, one JSON line each.
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
from typing import Any

from connector_kit import Connector, ConnectorSettings
from connector_kit.subscriber import SyncRequestSubscriber
from devstack import infra, testing
from ledger_contracts import MasterLinkSettings, SyncRequested


def intune(
    bootstrap: str, prefix: str, sim: dict[str, Any], args: argparse.Namespace
) -> SyncRequestSubscriber:
    from intune_connector.service import build_app, build_subscriber
    from intune_connector.settings import Integration, Settings

    keys = ("azure_tenant_id", "client_id", "client_secret", "authority_url", "graph_base_url")
    integration = Integration(integration_id="bench", ca_bundle=sim["ca"], **{k: sim[k] for k in keys})
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix)
    return build_subscriber(settings, build_app(settings, integrations={"bench": integration}))


def jamf(bootstrap: str, prefix: str, sim: dict[str, Any], args: argparse.Namespace) -> SyncRequestSubscriber:
    from jamf_connector.service import build_app, build_subscriber
    from jamf_connector.settings import Settings, parse_integrations

    entry = {"base_url": sim["base_url"], "ca_bundle": sim["ca"]}
    entry |= {"client_id": sim["client_id"], "client_secret": sim["client_secret"]}
    settings = Settings(kafka_bootstrap_servers=bootstrap, topic_prefix=prefix, page_size=args.page_size)
    return build_subscriber(settings, build_app(settings, integrations=parse_integrations({"bench": entry})))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


async def bench(bootstrap: str, sim: dict[str, Any], args: argparse.Namespace) -> None:
    prefix = testing.unique_prefix()
    await testing.create_all_topics(bootstrap, prefix)
    sub = (intune if args.mdm == "intune" else jamf)(bootstrap, prefix, sim, args)
    kind = "intune" if args.mdm == "intune" else "jamf_pro"
    link = MasterLinkSettings(master_link_id="ml", integration_id="bench", mdm_kind=kind)
    async with sub.connected() as connector:
        assert isinstance(connector, Connector) and isinstance(connector.settings, ConnectorSettings)
        integration = connector.integration("bench")
        for i in range(args.runs):
            request = SyncRequested(tenant_id="bench", sync_run_id=uuid.uuid4(), master_link=link)
            t, cpu = time.perf_counter(), _cpu()
            result = await connector.run(integration, request)
            seconds, cpu = time.perf_counter() - t, _cpu() - cpu
            line = {"run": i + 1, "status": result.status, "devices": result.devices_observed}
            line |= {"seconds": round(seconds, 2), "devices_per_s": round(result.devices_observed / seconds)}
            # the connector's own CPU (this process; the simulator is another): steady on a busy machine
            per_device = round(cpu * 1e6 / max(result.devices_observed, 1))
            line |= {"cpu_s": round(cpu, 2), "cpu_us_per_device": per_device}
            print(json.dumps(line), flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"connector_process_peak_rss_mib": round(peak, 1)}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("mdm", choices=("intune", "jamf"))
    parser.add_argument("--devices", type=int, default=100_000, help="intune")
    parser.add_argument("--computers", type=int, default=15_000, help="jamf")
    parser.add_argument("--mobiles", type=int, default=5_000, help="jamf")
    parser.add_argument("--page-size", type=int, default=2000, help="jamf")
    parser.add_argument("--runs", type=int, default=2, help="the second run is served from the page cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-pull-") as d:
        root = Path(d)
        broker = infra.start_broker(root / "logs")
        cmd = [sys.executable, "-m", "mdm_sim", "graph" if args.mdm == "intune" else "jamf"]
        cmd += ["--cert-dir", str(root / "certs")]
        if args.mdm == "intune":
            cmd += ["--devices", str(args.devices)]
        else:
            cmd += ["--computers", str(args.computers), "--mobiles", str(args.mobiles)]
        t = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        try:
            assert proc.stdout is not None
            sim = json.loads(proc.stdout.readline())  # the simulator's ready line (its own timeout: 15 s)
            print(json.dumps({"simulator_ready_s": round(time.perf_counter() - t, 2)}), flush=True)
            asyncio.run(bench(broker.bootstrap_servers, sim, args))
        finally:
            proc.terminate()
            proc.wait(10)
            broker.stop()


if __name__ == "__main__":
    main()
