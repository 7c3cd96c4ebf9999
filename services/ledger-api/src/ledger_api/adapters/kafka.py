"""Kafka publishing of the ledger API: commands to the reconciler (`ledger.commands.v1`) and sync
requests to the connectors (`mdm.sync-requests.v1`), keyed by tenant (SPEC §9)."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ledger_contracts import Event, codec

from ..errors import Unavailable
from ..settings import Settings


def create_producer(settings: Settings) -> AIOKafkaProducer:
    """Not started: the composition root starts and stops it."""
    return AIOKafkaProducer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        acks="all",
        linger_ms=2,
        max_request_size=settings.max_message_bytes,  # a CSV import is one command (R-C2)
    )


PUBLISH_TIMEOUT = 10.0


async def publish(producer: AIOKafkaProducer | None, topic: str, event: Event) -> None:
    """Keyed by tenant (SPEC §9); returns once the broker has acknowledged the record."""
    if producer is None:
        raise Unavailable("no broker connection", code="broker_unavailable")
    key, value = codec.encode(event)  # fields carry only the keys set (PATCH semantics)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value=value, key=key), PUBLISH_TIMEOUT)
    except (KafkaError, TimeoutError) as exc:
        raise Unavailable(f"could not publish to {topic}: {exc!r}", code="broker_unavailable") from exc
