"""Topic names (SPEC §9). Every topic is keyed by tenant id, so one tenant's messages stay in order."""

from __future__ import annotations

SYNC_REQUESTS = "mdm.sync-requests.v1"
SNAPSHOTS = "mdm.snapshots.v1"
COMMANDS = "ledger.commands.v1"
CHANGES = "ledger.changes.v1"
ALL = (SYNC_REQUESTS, SNAPSHOTS, COMMANDS, CHANGES)


def dlq(topic: str) -> str:
    """The dead-letter topic of `topic`: poison messages go there with the error, never dropped."""
    return f"{topic}.dlq"


def named(topic: str, prefix: str = "") -> str:
    """The topic as deployed: an optional prefix isolates test runs sharing one broker."""
    return f"{prefix}{topic}"
