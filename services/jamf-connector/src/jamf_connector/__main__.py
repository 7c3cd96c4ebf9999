"""`jamf-connector`: consume sync requests and publish Jamf Pro snapshots until SIGTERM.

Configuration is the environment (prefix `JAMF_CONNECTOR_`, see settings.py), e.g.
    JAMF_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
    JAMF_CONNECTOR_INTEGRATIONS_FILE=/etc/ledger/jamf-integrations.json
"""

from __future__ import annotations

import asyncio
import signal

import structlog

from .logs import configure_logging
from .service import build_app
from .settings import Settings


async def serve(settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    app = build_app(settings)
    log = structlog.get_logger("jamf_connector")
    log.info("jamf.starting", integrations=sorted(app.integrations), topic_prefix=settings.topic_prefix)
    async with app:
        await app.run(stop)
    log.info("jamf.stopped")


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
