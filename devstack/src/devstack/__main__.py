"""`devstack demo|bench|bench-tenants|chaos`: run the whole system on embedded infrastructure."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import structlog


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="start everything, sync the simulated tenants, serve the API")
    demo.add_argument("--once", action="store_true", help="exit 0 after the first sync's summary")
    demo.add_argument("--devices", type=int, default=2000, help="generated Intune devices")
    demo.add_argument("--jamf", type=int, default=500, help="generated Jamf devices (computers + mobiles)")
    demo.add_argument("--api-port", type=int, default=8000, help="the ledger API's port")
    demo.add_argument("--run-dir", type=Path, help="logs, certificates, data (default: .run/demo)")
    demo.add_argument(
        "--shared-macs",
        type=int,
        default=50,
        help="Macs enrolled in both simulated MDMs with the same serial numbers (issue 11)",
    )
    chaos = sub.add_parser("chaos", help="a clean scenario vs. rounds with services SIGKILLed (issue 9)")
    chaos.add_argument("--devices", type=int, default=50_000)
    chaos.add_argument("--rounds", type=int, default=10)
    chaos.add_argument("--seed", type=int, default=7)
    bench = sub.add_parser("bench", help="time a first sync and a no-change re-sync")
    bench.add_argument("--devices", type=int, default=100_000)
    bench.add_argument("--jamf", type=int, default=20_000)
    tenants = sub.add_parser(
        "bench-tenants", help="many tenants synced at once, on one vs several reconcilers (issue 12)"
    )
    tenants.add_argument("--tenants", type=int, default=200)
    tenants.add_argument("--devices-per-tenant", type=int, default=500)
    tenants.add_argument(
        "--reconcilers", type=int, nargs="+", default=[1, 2], help="reconciler processes, one stack per count"
    )
    tenants.add_argument("--partitions", type=int, default=12, help="partitions of every topic")
    tenants.add_argument(
        "--session-timeout-ms",
        type=int,
        default=10_000,
        help="consumer-group session timeout of the services",
    )
    args = parser.parse_args(argv)
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))
    if args.command == "demo":
        from .demo import main as demo_main

        return demo_main(
            args.once,
            args.devices,
            args.jamf,
            api_port=args.api_port,
            run_dir=args.run_dir,
            shared_macs=args.shared_macs,
        )
    if args.command == "chaos":
        from .chaos import main as chaos_main

        return chaos_main(args.devices, args.rounds, args.seed)
    if args.command == "bench-tenants":
        from .bench_tenants import main as bench_tenants_main

        return bench_tenants_main(
            args.tenants, args.devices_per_tenant, args.reconcilers, args.partitions, args.session_timeout_ms
        )
    from .bench import main as bench_main

    return bench_main(args.devices, args.jamf)


if __name__ == "__main__":
    sys.exit(main())
