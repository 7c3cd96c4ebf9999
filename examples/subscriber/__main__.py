"""Run the example subscriber: `python -m examples.subscriber --bootstrap localhost:9092`.

Prints one JSON line per applied device change on stdout; FastStream's logs go to stderr.
Stop it with Ctrl-C (or SIGTERM): it leaves its consumer group cleanly.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys

from .subscriber import DeviceMirror, build_app


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m examples.subscriber", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--bootstrap",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "localhost:9092"),
        help="Kafka bootstrap servers (default: $KAFKA_BOOTSTRAP_SERVERS or localhost:9092)",
    )
    parser.add_argument("--group", default="example-device-subscriber", help="consumer group id")
    parser.add_argument("--topic-prefix", default="", help="the deployment's topic prefix, if any")
    parser.add_argument("--session-timeout-ms", type=int, default=10_000)
    args = parser.parse_args(argv)
    logging.basicConfig(stream=sys.stderr, level=logging.INFO)
    app = build_app(
        args.bootstrap,
        group_id=args.group,
        topic_prefix=args.topic_prefix,
        session_timeout_ms=args.session_timeout_ms,
        mirror=DeviceMirror(out=sys.stdout),
    )
    asyncio.run(app.run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
