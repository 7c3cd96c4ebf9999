"""The skeleton of one sync run (R-E1, R-M13, R-M14, SPEC §9), the same for every MDM.

Events, all keyed by tenant (one partition, so in order) on `mdm.snapshots.v1`:
`SyncRunStarted`, one `DeviceObserved` per device as pages arrive, then `SyncRunCompleted` with the
counts — or `SyncRunFailed` after whatever was already sent, never a completed run after a partial
pull. Every event of one attempt carries the same fresh `attempt_id` (R-M13): a request handled
again (redelivered after a crash or a stop) is a new attempt of the same `sync_run_id`.

R-M14: a device whose record had malformed optional fields is published with those fields empty and
one `RecordIssue(kind="warning")` per field; a record without a usable id is skipped, counted in
`devices_skipped` and listed (first 1,000) in `SyncRunCompleted.skipped`. A device id seen twice in
one attempt (a record that moved between pages) is published once.

A broker error is not a failed run: nothing can be published then, so it propagates and the request
stays unacknowledged. Cancellation (a graceful stop) propagates too, publishing nothing more.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import structlog
from aiokafka.errors import KafkaError

from ledger_contracts import (
    DeviceObserved,
    Event,
    ObservedDevice,
    RecordIssue,
    SyncRequested,
    SyncRunCompleted,
    SyncRunFailed,
    SyncRunStarted,
)

MAX_LISTED_SKIPS = 1000  # SyncRunCompleted.skipped holds the first 1,000; the count is exact
DETAILED_LOGS = 20  # per-record problems logged one by one up to this many per run, then counted

log = structlog.get_logger(__name__)

BROKER_ERRORS: tuple[type[BaseException], ...] = (KafkaError,)


class Publisher(Protocol):
    async def publish(self, event: Event) -> None: ...

    async def flush(self) -> None: ...


class ListPublisher:
    """Keeps events in memory: handler tests and dry runs (a fake, not a mock)."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.fail_after: int | None = None  # raise a broker error on the n-th publish

    async def publish(self, event: Event) -> None:
        if self.fail_after is not None and len(self.events) >= self.fail_after:
            from aiokafka.errors import KafkaConnectionError

            raise KafkaConnectionError("simulated broker failure")
        self.events.append(event)

    async def flush(self) -> None:
        return None


@dataclass(frozen=True)
class PullResult:
    status: str  # "completed" | "failed"
    devices_observed: int
    reported_total: int | None = None
    skipped: int = 0
    with_warnings: int = 0
    duplicates: int = 0
    seconds: float = 0.0
    error: str | None = None
    attempt_id: uuid.UUID | None = None


@dataclass
class SyncRun:
    """One attempt of a run. The connector's pull calls `observe` / `skip`; `execute` does the rest."""

    request: SyncRequested
    integration_id: str
    publisher: Publisher
    name: str = "connector"  # log event prefix: "intune", "jamf"
    attempt_id: uuid.UUID = field(default_factory=uuid.uuid4)
    observed: int = 0
    duplicates: int = 0
    with_warnings: int = 0
    skipped: list[RecordIssue] = field(default_factory=list)
    skipped_count: int = 0
    _seen: set[str] = field(default_factory=set)
    _started: float = field(default_factory=time.monotonic)

    @property
    def _common(self) -> dict[str, Any]:
        return {
            "tenant_id": self.request.tenant_id,
            "sync_run_id": self.request.sync_run_id,
            "attempt_id": self.attempt_id,
        }

    async def observe(self, device: ObservedDevice, warnings: tuple[RecordIssue, ...] = ()) -> None:
        if device.mdm_device_id in self._seen:
            self.duplicates += 1
            return
        self._seen.add(device.mdm_device_id)
        if warnings:
            self.with_warnings += 1
            if self.with_warnings <= DETAILED_LOGS:
                log.warning(
                    f"{self.name}.field_emptied",
                    mdm_device_id=device.mdm_device_id,
                    issues=[f"{w.field}: {w.reason}" for w in warnings],
                )
        await self.publisher.publish(
            DeviceObserved(
                **self._common, integration_id=self.integration_id, device=device, warnings=warnings
            )
        )
        self.observed += 1

    def skip(self, mdm_device_id: str | None, field_name: str | None, reason: str) -> None:
        self.skipped_count += 1
        issue = RecordIssue(
            kind="skipped", mdm_device_id=mdm_device_id, field=field_name, reason=reason[:500]
        )
        if len(self.skipped) < MAX_LISTED_SKIPS:
            self.skipped.append(issue)
        if self.skipped_count <= DETAILED_LOGS:
            log.warning(
                f"{self.name}.record_skipped", mdm_device_id=mdm_device_id, field=field_name, reason=reason
            )

    async def execute(
        self,
        pull: Callable[[SyncRun], Awaitable[int | None]],
        safe_error: Callable[[BaseException], str],
    ) -> PullResult:
        """Started -> `pull(self)` (returns the MDM's reported total) -> completed, or failed."""
        req = self.request
        await self._publish_now(
            SyncRunStarted(**self._common, master_link=req.master_link, dry_run=req.dry_run)
        )
        log.info(f"{self.name}.pull_started", attempt_id=str(self.attempt_id))
        try:
            reported = await pull(self)
            await self.publisher.flush()  # every device acknowledged before the run is called complete
        except BROKER_ERRORS:
            raise  # nothing can be published now; the request stays unacknowledged and comes back
        except Exception as exc:  # the MDM, the network, auth, or a bug: end the run visibly
            return await self.fail(safe_error(exc))
        await self._publish_now(
            SyncRunCompleted(
                **self._common,
                integration_id=self.integration_id,
                devices_observed=self.observed,
                reported_total=reported,
                devices_skipped=self.skipped_count,
                skipped=tuple(self.skipped),
                devices_with_warnings=self.with_warnings,
            )
        )
        result = self._result("completed", reported)
        log.info(
            f"{self.name}.pull_completed",
            devices_observed=self.observed,
            reported_total=reported,
            skipped=self.skipped_count,
            with_warnings=self.with_warnings,
            duplicates=self.duplicates,
            seconds=round(result.seconds, 3),
        )
        return result

    async def fail(self, error: str) -> PullResult:
        await self.publisher.flush()  # the failure comes after every device already sent
        await self._publish_now(
            SyncRunFailed(
                **self._common,
                integration_id=self.integration_id,
                devices_observed=self.observed,
                error=error,
            )
        )
        log.error(f"{self.name}.pull_failed", error=error, devices_observed=self.observed)
        return self._result("failed", None, error)

    def _result(self, status: str, reported: int | None, error: str | None = None) -> PullResult:
        return PullResult(
            status,
            self.observed,
            reported,
            self.skipped_count,
            self.with_warnings,
            self.duplicates,
            time.monotonic() - self._started,
            error,
            self.attempt_id,
        )

    async def _publish_now(self, event: Event) -> None:
        await self.publisher.publish(event)
        await self.publisher.flush()


async def refuse(request: SyncRequested, integration_id: str, publisher: Publisher, error: str) -> PullResult:
    """A run that cannot start (no usable credentials): `SyncRunFailed` alone, under a new attempt."""
    run = SyncRun(request, integration_id, publisher)
    return await run.fail(error)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def safe_error(
    exc: BaseException, secrets: list[str], *, trusted: tuple[type[BaseException], ...] = ()
) -> str:
    """A reason fit for an event and a log line: our own errors as they are, others with their type;
    secrets masked either way, so a future mistake cannot leak one."""
    text = str(exc) if isinstance(exc, trusted) else f"{type(exc).__name__}: {exc}"
    return redact(text, secrets)[:1000]
