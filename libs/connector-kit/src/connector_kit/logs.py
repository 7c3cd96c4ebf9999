"""JSON logs on stdout (structlog); third-party stdlib loggers rendered the same way.

httpx logs every request URL at INFO (page links carry device names in `$skiptoken`), and MSAL's
debug logs are not ours to vet, so those stay at WARNING whatever our own level is.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable
from typing import Any, TextIO

import structlog

QUIET_LOGGERS = ("httpx", "httpcore", "msal", "urllib3", "aiokafka")


def configure_logging(
    level: str = "INFO", stream: TextIO | None = None, *, quiet: Iterable[str] = QUIET_LOGGERS
) -> None:
    out = stream or sys.stdout
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, structlog.processors.JSONRenderer()],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.WriteLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.JSONRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level_no)
    for name in quiet:
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
