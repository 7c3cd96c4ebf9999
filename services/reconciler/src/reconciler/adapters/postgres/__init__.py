"""The PostgreSQL `Store` (schema `reconciler`): set-based loads (`reads`), COPY/upsert writes
(`writes`), the consumed offsets and the outbox. One connection, inside the caller's transaction."""

from .reads import (
    PgStore,
    conflict_record,
    delete_outbox,
    lock_tenants,
    next_offsets,
    pending_outbox,
    store_offsets,
)
from .writes import write_effects

__all__ = [
    "PgStore",
    "conflict_record",
    "delete_outbox",
    "lock_tenants",
    "next_offsets",
    "pending_outbox",
    "store_offsets",
    "write_effects",
]
