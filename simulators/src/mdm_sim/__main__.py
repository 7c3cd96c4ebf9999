"""`mdm-sim <simulator> …`: each simulator is a module with `add_arguments(parser)` and `run(args) -> int`."""

from __future__ import annotations

import argparse
import importlib
import sys

# One line per simulator; the modules are imported only when the command line is parsed.
SUBCOMMANDS = {
    "graph": "mdm_sim.graph.cli",
    "jamf": "mdm_sim.jamf.cli",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="mdm-sim", description="MDM API simulators for the device ledger")
    sub = parser.add_subparsers(dest="command", required=True)
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip().splitlines()
        p = sub.add_parser(name, help=getattr(module, "HELP", doc[0] if doc else None))
        module.add_arguments(p)
        p.set_defaults(run=module.run)
    args = parser.parse_args(argv)
    return int(args.run(args))


if __name__ == "__main__":
    sys.exit(main())
