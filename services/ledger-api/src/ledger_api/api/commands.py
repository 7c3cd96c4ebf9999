"""Manual edits go to the reconciler as commands; the API waits (bounded) for their projection."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from ledger_contracts import Event, UpdateDevice, codec

from ..errors import Unavailable
from ..repositories import devices
from .deps import ProjectionSignal

PUBLISH_TIMEOUT = 10.0


def encode(event: Event) -> tuple[bytes, bytes]:
    """`codec.encode`, except that an UpdateDevice carries only the fields the caller set.

    `codec.encode` dumps every field of `DeviceFieldsInput`, so after decoding `model_fields_set`
    holds all of them and a PATCH of one field would read as "clear all the others". Leaving the
    unset keys out keeps the message valid for the contract and makes `model_fields_set` on the
    reconciler's side exactly the keys of the request.
    """
    key, value = codec.encode(event)
    if isinstance(event, UpdateDevice):
        doc = json.loads(value)
        doc["fields"] = event.fields.model_dump(mode="json", exclude_unset=True)
        value = json.dumps(doc, separators=(",", ":")).encode()
    return key, value


async def publish(producer: AIOKafkaProducer | None, topic: str, event: Event) -> None:
    """Keyed by tenant (SPEC §9); returns once the broker has acknowledged the record."""
    if producer is None:
        raise Unavailable("no broker connection", code="broker_unavailable")
    key, value = encode(event)
    try:
        await asyncio.wait_for(producer.send_and_wait(topic, value=value, key=key), PUBLISH_TIMEOUT)
    except (KafkaError, TimeoutError) as exc:
        raise Unavailable(f"could not publish to {topic}: {exc!r}", code="broker_unavailable") from exc


async def wait_for_outcome(
    conn: asyncpg.Connection,
    tenant_id: str,
    command_id: uuid.UUID,
    *,
    timeout: float,
    signal: ProjectionSignal,
) -> dict[str, Any] | None:
    """The change the command caused, once projected; None after `timeout`.

    Woken by this process's projection; the short poll also sees a change projected by another
    instance of the API (partitions are shared among the consumer group).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = await devices.command_outcome(conn, tenant_id, command_id)
        remaining = deadline - loop.time()
        if outcome is not None or remaining <= 0:
            return outcome
        await signal.wait(min(remaining, 0.25))
