"""A service that follows the device ledger: subscribe to `ledger.changes.v1` with FastStream.

Copy this file. What it shows:

* a typed handler: FastStream decodes each record into `ChangeMessage` (a pydantic union on
  `type`), so `LedgerDeviceChanged` arrives as that class, validated;
* a consumer group of its own (`group_id`), reading from the beginning the first time;
* manual acknowledgement: the offset is committed only after the change was handled, so a crash
  in between means the change comes again (at least once), never that it is lost;
* idempotency by `(device_id, version)`: a change is applied only when its version is newer than
  the one held, so a redelivered change is harmless;
* the key: every record is keyed by tenant id; one tenant's changes arrive in order.

The store here is a dict; a real service keeps `device_id -> version` next to its own data and
updates both in one transaction.
"""

from __future__ import annotations

import json
import logging
import sys
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from faststream import AckPolicy, FastStream
from faststream.kafka import KafkaBroker, KafkaMessage

from ledger_contracts import ChangeMessage, LedgerDeviceChanged, topics

# FastStream's own access log would go to stdout; this service's logs go wherever logging sends them
# (stderr in __main__), and stdout carries only the applied changes.
log = logging.getLogger("examples.subscriber")


@dataclass
class DeviceMirror:
    """What this example keeps: the latest version and state of every device it has seen."""

    out: TextIO = sys.stdout
    versions: dict[uuid.UUID, int] = field(default_factory=dict)
    devices: dict[uuid.UUID, dict[str, Any]] = field(default_factory=dict)

    def apply(self, change: LedgerDeviceChanged, *, key: bytes | None) -> bool:
        """Apply one change; False when it is a redelivery of a version already applied."""
        if key is not None and key.decode() != change.tenant_id:
            raise ValueError(f"record key {key!r} is not the tenant id {change.tenant_id!r}")
        if self.versions.get(change.device_id, 0) >= change.version:
            return False  # seen before (at-least-once delivery): nothing to do
        self.versions[change.device_id] = change.version
        if change.device is None:  # deleted
            self.devices.pop(change.device_id, None)
        else:
            self.devices[change.device_id] = change.device.model_dump(mode="json")
        line = {
            "tenant_id": change.tenant_id,
            "change": change.change,
            "device_id": str(change.device_id),
            "version": change.version,
            "source": change.device.source if change.device else None,
            "fields": [c.field for c in change.changes],
        }
        self.out.write(json.dumps(line) + "\n")
        self.out.flush()
        return True


def build_broker(
    bootstrap: str,
    *,
    group_id: str = "example-device-subscriber",
    topic_prefix: str = "",
    session_timeout_ms: int = 10_000,
    mirror: DeviceMirror | None = None,
    on_message: Callable[[ChangeMessage], None] | None = None,
) -> KafkaBroker:
    """A broker with one subscriber on `ledger.changes.v1` (with the deployment's topic prefix)."""
    broker = KafkaBroker(bootstrap, logger=log)
    state = mirror if mirror is not None else DeviceMirror()

    @broker.subscriber(
        topics.named(topics.CHANGES, topic_prefix),
        group_id=group_id,
        auto_offset_reset="earliest",  # a new group starts from the oldest retained change
        ack_policy=AckPolicy.MANUAL,  # commit only after handling (below)
        session_timeout_ms=session_timeout_ms,
        title="example-device-subscriber",
    )
    async def on_change(change: ChangeMessage, message: KafkaMessage) -> None:
        try:
            if isinstance(change, LedgerDeviceChanged):
                record = message.raw_message  # the aiokafka ConsumerRecord (a tuple for batch subscribers)
                state.apply(change, key=None if isinstance(record, tuple) else record.key)
            # Other change messages (sync-run summaries, conflicts, …) are not this service's business.
            if on_message is not None:
                on_message(change)
        except Exception:
            await message.nack()  # not committed: the record is delivered again
            raise
        await message.ack()

    return broker


def build_app(bootstrap: str, **options: Any) -> FastStream:
    return FastStream(build_broker(bootstrap, **options), logger=log)
