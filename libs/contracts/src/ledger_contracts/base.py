"""Base classes every contract shares (STYLE §5): frozen, no extra keys, event id, time, version."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
"""A timezone-aware timestamp, normalised to UTC. Naive timestamps are rejected."""


def utcnow() -> datetime:
    return datetime.now(UTC)


class Contract(BaseModel):
    """A value object on the wire: immutable, unknown keys are an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Event(Contract):
    """Common envelope of every message. `tenant_id` is also the Kafka key (SPEC §9)."""

    event_id: uuid.UUID = Field(default_factory=uuid.uuid4)
    occurred_at: UtcDatetime = Field(default_factory=utcnow)
    schema_version: int = 1
    tenant_id: str = Field(min_length=1, max_length=200)
