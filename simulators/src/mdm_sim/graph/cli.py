"""`mdm-sim graph`: serve a simulated Intune tenant until SIGTERM/SIGINT.

Prints one JSON line on stdout when ready (base URL, CA path, credentials), so a parent process can
read it and configure the connector; the CA PEM is at `<cert-dir>/ca.pem`.
"""

from __future__ import annotations

import argparse
import gc
import json
import signal
import sys
import threading
from pathlib import Path

from .config import GraphSimConfig
from .runner import running_graph_sim
from .store import device_files

HELP = "simulate Microsoft Graph (Intune managedDevices) and Entra ID client credentials over HTTPS"


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = GraphSimConfig()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 picks a free port (see the ready line)")
    p.add_argument("--cert-dir", type=Path, required=True, help="CA written to DIR/ca.pem")
    p.add_argument("--devices", type=int, default=d.devices, help="number of generated devices")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument(
        "--devices-file", type=Path, help="serve these devices instead (default $MDM_SIM_INTUNE_DEVICES)"
    )
    p.add_argument(
        "--include-samples",
        type=Path,
        action="append",
        default=[],
        metavar="DIR",
        help="add every device of DIR/*.json (Graph pages or arrays); repeatable",
    )
    p.add_argument(
        "--shared-macs", type=int, default=0, help="add N Macs the Jamf simulator also serves (same serials)"
    )
    p.add_argument("--shared-seed", type=int, default=0, help="seed of the shared Macs (same in both)")
    p.add_argument("--tenant", default=d.tenant_id)
    p.add_argument("--client-id", default=d.client_id)
    p.add_argument("--client-secret", default=d.client_secret)
    p.add_argument(
        "--token-lifetime", type=float, default=d.token_lifetime_s, help="seconds a token is accepted"
    )
    p.add_argument(
        "--fault",
        type=json.loads,
        action="append",
        default=[],
        metavar="JSON",
        help='inject a fault, e.g. \'{"status": 429, "retry_after": "0.5", "page": 3}\'; repeatable',
    )


def run(args: argparse.Namespace) -> int:
    config = GraphSimConfig(
        tenant_id=args.tenant,
        client_id=args.client_id,
        client_secret=args.client_secret,
        devices=args.devices,
        seed=args.seed,
        shared_macs=args.shared_macs,
        shared_seed=args.shared_seed,
        devices_file=args.devices_file,
        extra_device_files=[f for d in args.include_samples for f in device_files(d)],
        token_lifetime_s=args.token_lifetime,
        faults=args.fault,
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    with running_graph_sim(config, cert_dir=args.cert_dir, host=args.host, port=args.port) as running:
        assert running.sim is not None
        # The device set is a large, long-lived heap: keep the cyclic GC from re-scanning it on every
        # full collection while pages are served (this process only; tests run the app in-process).
        gc.freeze()
        print(json.dumps({**running.describe(), "devices": len(running.sim.store)}), flush=True)
        stop.wait()
    print(json.dumps({"event": "graph_sim.stopped"}), file=sys.stderr, flush=True)
    return 0
