"""`ledger-api` / `python -m ledger_api`: settings from the environment (LEDGER_API_*), then uvicorn.
`ledger-api replay [--verify]` rebuilds the projected tables from ledger.changes.v1 (replay.py)."""

from __future__ import annotations

import sys

import uvicorn

from .app import build_app
from .observability import configure_logging
from .settings import Settings


def main() -> None:
    if sys.argv[1:2] == ["replay"]:
        from .projection import replay

        sys.exit(replay.main(sys.argv[2:]))
    settings = Settings()  # database_url comes from the environment
    configure_logging(settings.log_level)
    app = build_app(settings)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,  # our JSON logging; uvicorn's own loggers propagate to it
        access_log=False,  # the request middleware logs each request with its request id
        lifespan="on",
    )


if __name__ == "__main__":
    main()
