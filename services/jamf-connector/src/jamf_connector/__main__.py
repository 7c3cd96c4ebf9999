"""`jamf-connector`: consume sync requests and publish Jamf Pro snapshots until SIGTERM/SIGINT.

Configuration is the environment (prefix `JAMF_CONNECTOR_`, see settings.py), e.g.
    JAMF_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
    JAMF_CONNECTOR_INTEGRATIONS_FILE=/etc/ledger/jamf-integrations.json
"""

from __future__ import annotations

import asyncio
import signal

from .logs import configure_logging
from .service import build_app
from .settings import Settings


async def _serve(settings: Settings) -> None:
    app = build_app(settings)
    loop = asyncio.get_running_loop()
    stopping: set[asyncio.Task[None]] = set()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, lambda: stopping.add(loop.create_task(app.stop())))
    await app.run()


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(_serve(settings))


if __name__ == "__main__":
    main()
