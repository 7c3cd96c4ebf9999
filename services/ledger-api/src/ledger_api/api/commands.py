"""Manual edits go to the reconciler as commands; the API waits (bounded) for their projection."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from ..adapters.db import Connection
from ..adapters.repositories import devices
from ..errors import ApiError
from .deps import ProjectionSignal


async def wait_for_outcome(
    conn: Connection,
    tenant_id: str,
    command_id: uuid.UUID,
    *,
    timeout: float,
    signal: ProjectionSignal,
) -> dict[str, Any] | None:
    """The change the command caused, or `{"rejected": …}` when the reconciler refused it, once
    projected; None after `timeout`.

    Woken by this process's projection; the short poll also sees a change projected by another
    instance of the API (partitions are shared among the consumer group).
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        outcome = await devices.command_outcome(conn, tenant_id, command_id) or await devices.rejection(
            conn, tenant_id, command_id
        )
        remaining = deadline - loop.time()
        if outcome is not None or remaining <= 0:
            return outcome
        await signal.wait(min(remaining, 0.25))


async def wait_for(
    outcome: Callable[[], Awaitable[dict[str, Any] | None]], *, timeout: float, signal: ProjectionSignal
) -> dict[str, Any] | None:
    """`outcome()` once it is not None (woken by each projected batch, polled for other replicas'),
    None after `timeout`."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        found = await outcome()
        remaining = deadline - loop.time()
        if found is not None or remaining <= 0:
            return found
        await signal.wait(min(remaining, 0.25))


# What a refusal means over HTTP: the reconciler's code is kept as the error code.
_REJECTION_STATUS = {
    "not_found": 404,
    "conflict_not_found": 404,
    "not_a_candidate": 422,
    "import_invalid": 422,
}


class CommandRejectedError(ApiError):
    status = 409


def raise_if_rejected(outcome: dict[str, Any] | None, command_id: uuid.UUID) -> None:
    if outcome is None or "rejected" not in outcome:
        return
    r = outcome["rejected"]
    error = CommandRejectedError(
        r["message"],
        {"command_id": str(command_id), "device_id": str(r["device_id"]) if r["device_id"] else None},
        code=r["code"],
    )
    error.status = _REJECTION_STATUS.get(r["code"], 409)
    raise error
