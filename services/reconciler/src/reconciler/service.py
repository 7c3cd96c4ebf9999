"""The composition root (STYLE §2): the reconciler service wired from its settings."""

from __future__ import annotations

import asyncpg
from aiokafka import AIOKafkaProducer

from .adapters.kafka import Reconciler
from .settings import Settings

__all__ = ["Reconciler", "build_app"]


def build_app(
    settings: Settings, *, pool: asyncpg.Pool | None = None, producer: AIOKafkaProducer | None = None
) -> Reconciler:
    """The reconciler over its settings; tests pass their own pool or producer."""
    return Reconciler(settings, pool=pool, producer=producer)
