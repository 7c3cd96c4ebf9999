"""`intune-connector`: consume sync requests and publish Intune snapshots until SIGTERM/SIGINT.

Configuration is the environment (prefix `INTUNE_CONNECTOR_`, see settings.py), e.g.
    INTUNE_CONNECTOR_KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:9092
    INTUNE_CONNECTOR_INTEGRATIONS_FILE=/etc/ledger/intune-integrations.json
"""

from __future__ import annotations

import asyncio

from connector_kit import configure_logging

from .service import build_subscriber
from .settings import Settings


def main() -> None:
    settings = Settings()
    configure_logging(settings.log_level)
    asyncio.run(build_subscriber(settings).serve())


if __name__ == "__main__":
    main()
