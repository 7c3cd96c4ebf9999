"""`mdm-sim jamf …`: serve a Jamf Pro simulator until SIGINT/SIGTERM.

Prints one JSON line when ready: {"event": "jamf_sim.ready", "base_url", "ca", "client_id", "client_secret",
"username", "password", "computers", "mobiles"} — the credentials are the simulator's own test
values, which is why printing them is fine here (and only here).
Devices come from MDM_SIM_JAMF_COMPUTERS / MDM_SIM_JAMF_MOBILES (a `{totalCount, results}` page or
a JSON array) when set, else `--computers N` / `--mobiles M` generated from `--seed`.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import datetime

from .data import generate_computers, generate_mobiles, load_file
from .runner import running_jamf_sim
from .state import ALL_VERSIONS, JamfSim, SimConfig

HELP = "Jamf Pro API simulator: OAuth/basic tokens, computers-inventory v1–v4, mobile-devices detail"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    defaults = SimConfig()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument("--cert-dir", default=None, help="where the CA (ca.pem) and server cert live")
    parser.add_argument("--http", action="store_true", help="plain HTTP instead of HTTPS")
    parser.add_argument("--computers", type=int, default=100)
    parser.add_argument("--mobiles", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--fixed-now",
        help="date the generated fleet from this ISO time, not now (same seed: same fleet)",
    )
    parser.add_argument(
        "--shared-macs", type=int, default=0, help="add N Macs the Graph simulator also serves (same serials)"
    )
    parser.add_argument("--shared-seed", type=int, default=0, help="seed of the shared Macs (same in both)")
    parser.add_argument(
        "--versions", default=",".join(reversed(ALL_VERSIONS)), help="computers-inventory versions served"
    )
    parser.add_argument("--client-id", default=defaults.client_id)
    parser.add_argument("--client-secret", default=defaults.client_secret)
    parser.add_argument("--username", default=defaults.username)
    parser.add_argument("--password", default=defaults.password)
    parser.add_argument("--token-lifetime", type=int, default=defaults.oauth_token_lifetime_s)
    parser.add_argument("--basic-token-lifetime", type=float, default=defaults.basic_token_lifetime_s)
    parser.add_argument("--page-delay", type=float, default=0.0, help="seconds added to each page")


def build_sim(args: argparse.Namespace) -> JamfSim:
    config = SimConfig(
        client_id=args.client_id,
        client_secret=args.client_secret,
        username=args.username,
        password=args.password,
        oauth_token_lifetime_s=args.token_lifetime,
        basic_token_lifetime_s=args.basic_token_lifetime,
        computer_versions=tuple(v.strip() for v in args.versions.split(",") if v.strip()),
        page_delay_s=args.page_delay,
    )
    computers_file = os.environ.get("MDM_SIM_JAMF_COMPUTERS")
    mobiles_file = os.environ.get("MDM_SIM_JAMF_MOBILES")
    now = datetime.fromisoformat(args.fixed_now.replace("Z", "+00:00")) if args.fixed_now else None
    computers = (
        load_file(computers_file) if computers_file else generate_computers(args.computers, args.seed, now)
    )
    mobiles = load_file(mobiles_file) if mobiles_file else generate_mobiles(args.mobiles, args.seed, now)
    if args.shared_macs:
        from ..shared import jamf_computers

        first = max((int(c["id"]) for c in computers if str(c.get("id", "")).isdigit()), default=0) + 1
        computers = computers + jamf_computers(args.shared_macs, args.shared_seed, first_id=first)
    return JamfSim(computers, mobiles, config)


def run(args: argparse.Namespace) -> int:
    sim = build_sim(args)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    with running_jamf_sim(
        sim, cert_dir=args.cert_dir, use_tls=not args.http, host=args.host, port=args.port
    ) as srv:
        ready = {
            "event": "jamf_sim.ready",
            "base_url": srv.base_url,
            "ca": str(srv.ca_pem) if srv.ca_pem else None,
            "client_id": sim.config.client_id,
            "client_secret": sim.config.client_secret,
            "username": sim.config.username,
            "password": sim.config.password,
            "computers": len(sim.devices["computer"]),
            "mobiles": len(sim.devices["mobile"]),
        }
        print(json.dumps(ready), flush=True)
        stop.wait()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mdm-sim jamf", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
