"""Fixtures of the reconciler's integration tests: settings for a fresh database and topic prefix
(from devstack's `database_url` and `kafka`), and a running reconciler."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from reconciler.service import Reconciler, build_app
from reconciler.settings import Settings


@pytest.fixture
async def settings(database_url: str, kafka: tuple[str, str]) -> Settings:
    bootstrap, prefix = kafka
    return Settings(
        database_url=database_url,
        kafka_bootstrap_servers=bootstrap,
        topic_prefix=prefix,
        kafka_session_timeout_ms=2000,
    )


@pytest.fixture
async def reconciler(settings: Settings) -> AsyncIterator[Reconciler]:
    app = build_app(settings)
    await app.start()
    task = asyncio.create_task(app.run())
    yield app
    task.cancel()
    await app.stop()
