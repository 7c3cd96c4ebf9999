"""Asking a connector for a sync run: one place for "sync now", link creation and the schedule.

The run is recorded as `requested` and `SyncRequested` is published, carrying the integration's
credentials re-encrypted under the current key (the connector decrypts them with the same key
and never reads the ledger's database). The caller owns the transaction: when the broker refuses
(`Unavailable`), rolling back leaves neither a run nor a moved schedule behind. Credentials that
cannot be decrypted end the run as `failed` at once, with an error that names the key, never a
secret.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import structlog

from ledger_contracts import EncryptedCredentials, Event, MasterLinkSettings, SyncRequested

from .adapters.db import Connection
from .adapters.repositories import integrations, sync_runs
from .domain.crypto import KeyRing, SecretsKeyError
from .observability import Metrics

log = structlog.get_logger(__name__)


@dataclass
class SyncRequests:
    publish: Callable[[Event], Awaitable[None]]  # raises errors.Unavailable
    keys: KeyRing | None
    metrics: Metrics | None = None

    async def __call__(
        self,
        conn: Connection,
        *,
        tenant_id: str,
        link: MasterLinkSettings,
        trigger: str,
        dry_run: bool,
        now: datetime,
    ) -> dict[str, Any]:
        credentials, problem = await self._credentials(conn, tenant_id, link.integration_id)
        request = SyncRequested(
            tenant_id=tenant_id,
            sync_run_id=uuid.uuid4(),
            master_link=link,
            trigger=trigger,
            dry_run=dry_run,
            credentials=credentials,
        )
        run = await sync_runs.create_requested(
            conn,
            sync_run_id=request.sync_run_id,
            tenant_id=tenant_id,
            master_link_id=link.master_link_id,
            integration_id=link.integration_id,
            trigger=trigger,
            dry_run=dry_run,
            requested_at=now,
        )
        if problem is not None:
            await sync_runs.mark_failed(conn, request.sync_run_id, problem)
            log.error(
                "sync.credentials_unusable",
                tenant_id=tenant_id,
                integration_id=link.integration_id,
                sync_run_id=str(request.sync_run_id),
                error=problem,
            )
            failed = await sync_runs.get(conn, tenant_id, request.sync_run_id)
            assert failed is not None
            self._count(trigger, "failed")
            return failed
        await self.publish(request)
        self._count(trigger, "requested")
        return run

    async def _credentials(
        self, conn: Connection, tenant_id: str, integration_id: str
    ) -> tuple[EncryptedCredentials | None, str | None]:
        stored = await integrations.credentials_of(conn, tenant_id, integration_id)
        if stored is None:
            return None, None  # the connector falls back to its integrations file
        ciphertext, key_id = stored
        if self.keys is None:
            return None, (
                f"integration {integration_id!r} has stored credentials but the API has no "
                "LEDGER_API_SECRETS_KEY to open them"
            )
        try:
            fresh = self.keys.rotate(ciphertext)
        except SecretsKeyError as exc:
            return None, (
                f"the credentials of integration {integration_id!r} (stored under key {key_id}) "
                f"cannot be decrypted: {exc}"
            )
        return EncryptedCredentials(key_id=self.keys.key_id, ciphertext=fresh), None

    def _count(self, trigger: str, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.sync_requests.labels(trigger, outcome).inc()
