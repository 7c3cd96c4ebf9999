"""JSON logs on stdout (structlog), third-party stdlib loggers rendered the same way.

Nothing we log carries a secret: settings hold them as `SecretStr`, tokens live in `AccessToken`
(hidden from repr), and our events name paths, counts and error codes only. httpx/httpcore debug
output is not ours to vet, so third-party loggers stay at WARNING whatever our own level is.
"""

from __future__ import annotations

import logging
import sys
from typing import TextIO

import structlog

QUIET_LOGGERS = ("httpx", "httpcore", "aiokafka")


def configure_logging(level: str = "INFO", stream: TextIO | None = None) -> None:
    out = stream or sys.stdout
    level_no = logging.getLevelNamesMapping().get(level.upper(), logging.INFO)
    shared: list[structlog.types.Processor] = [
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
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
