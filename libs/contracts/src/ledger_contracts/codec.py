"""How contracts travel: JSON values, the tenant id as key, error headers on dead letters."""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter, ValidationError

from .base import Event
from .messages import ChangeMessage, CommandMessage, SnapshotMessage, SyncRequestMessage

snapshot_adapter: TypeAdapter[Any] = TypeAdapter(SnapshotMessage)
command_adapter: TypeAdapter[Any] = TypeAdapter(CommandMessage)
change_adapter: TypeAdapter[Any] = TypeAdapter(ChangeMessage)
sync_request_adapter: TypeAdapter[Any] = TypeAdapter(SyncRequestMessage)


class PoisonMessage(ValueError):
    """A record that cannot be decoded into its topic's contract."""


def encode(event: Event) -> tuple[bytes, bytes]:
    """(key, value) for a Kafka record."""
    return event.tenant_id.encode(), event.model_dump_json().encode()


def decode(adapter: TypeAdapter[Any], value: bytes | None) -> Any:
    if value is None:
        raise PoisonMessage("empty record value (tombstone) where an event was expected")
    try:
        return adapter.validate_json(value)
    except ValidationError as exc:
        raise PoisonMessage(_describe(exc)) from exc


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        parts.append(f"{loc}: {err['msg']}")
    more = exc.error_count() - len(parts)
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


def dead_letter_headers(
    error: str, topic: str, partition: int, offset: int, consumer: str
) -> list[tuple[str, bytes]]:
    return [
        ("x-error", error[:2000].encode()),
        ("x-original-topic", topic.encode()),
        ("x-original-partition", str(partition).encode()),
        ("x-original-offset", str(offset).encode()),
        ("x-consumer", consumer.encode()),
    ]
