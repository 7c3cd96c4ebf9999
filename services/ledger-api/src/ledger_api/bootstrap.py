"""Seeding tenants, API tokens, integrations and master links from a JSON file: a demo and test
convenience only. A real tenant is created by the operator command `create_tenant` (below;
`ledger-api create-tenant <tenant_id> --name …`), then administered over the API.

Format::

    {"tenants": [{"tenant_id": "demo", "name": "Demo Co", "time_zone": "Asia/Tokyo",
                  "api_tokens": ["<plain token>"],
                  "integrations": [{"integration_id": "int-intune-1", "kind": "intune",
                                    "display_name": "Intune (HQ)",
                                    "credentials": {"azure_tenant_id": "…", "client_id": "…",
                                                    "client_secret": "…"}}],
                  "master_links": [<MasterLinkSettings + optional "schedule": {"local_time": "06:00",
                                                                                "time_zone": "…"}>]}]}

Seeding is idempotent and additive: tenants, integrations and master links are upserted, tokens
are added (only their sha256 is stored); nothing absent from the file is removed. An integration's
`credentials` take the fields of `POST /v1/integrations` (credentials.py) and are stored encrypted
(LEDGER_API_SECRETS_KEY is then required); without them the connector's own integrations file is
used. A seeded master link is scheduled (R-M7) but not synced at once; a link the API removed
stays removed.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import structlog
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

from ledger_contracts import MasterLinkSettings, MdmKind, utcnow

from .adapters.repositories import audit
from .adapters.repositories import integrations as integrations_repo
from .adapters.repositories import master_links as master_links_repo
from .adapters.repositories import tenants as tenants_repo
from .adapters.repositories import tokens as tokens_repo
from .domain.credentials import IntuneCredentials, JamfCredentials
from .domain.crypto import KeyRing
from .scheduler import next_daily_run

log = structlog.get_logger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class IntegrationSeed(_Seed):
    integration_id: str = Field(min_length=1)
    kind: MdmKind
    display_name: str | None = None
    credentials: IntuneCredentials | JamfCredentials | None = Field(None, discriminator="kind")

    @model_validator(mode="before")
    @classmethod
    def _credentials_of_this_kind(cls, data: Any) -> Any:
        creds = data.get("credentials") if isinstance(data, dict) else None
        if isinstance(creds, dict) and "kind" not in creds:
            data = {**data, "credentials": {**creds, "kind": data.get("kind")}}
        return data


class ScheduleSeed(_Seed):
    local_time: time | None = None
    time_zone: str | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        try:
            return None if value is None else ZoneInfo(value).key
        except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc


class MasterLinkSeed(MasterLinkSettings):
    model_config = ConfigDict(hide_input_in_errors=True)
    schedule: ScheduleSeed | None = None

    def settings(self) -> MasterLinkSettings:
        return MasterLinkSettings.model_validate(self.model_dump(exclude={"schedule"}))


class TenantSeed(_Seed):
    tenant_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1)
    time_zone: str = "UTC"
    api_tokens: list[SecretStr] = []
    integrations: list[IntegrationSeed] = []
    master_links: list[MasterLinkSeed] = []

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("api_tokens")
    @classmethod
    def _long_enough(cls, value: list[SecretStr]) -> list[SecretStr]:
        if any(len(t.get_secret_value()) < 12 for t in value):
            raise ValueError("an API token must be at least 12 characters")
        return value

    @model_validator(mode="after")
    def _links_point_at_integrations(self) -> TenantSeed:
        kinds = {i.integration_id: i.kind for i in self.integrations}
        for link in self.master_links:
            if kinds.get(link.integration_id) != link.mdm_kind:
                raise ValueError(
                    f"master link {link.master_link_id!r} needs an integration {link.integration_id!r} "
                    f"of kind {link.mdm_kind!r} in the same tenant"
                )
        return self


class BootstrapFile(_Seed):
    tenants: list[TenantSeed]


def read_bootstrap_file(path: Path) -> BootstrapFile:
    try:
        return BootstrapFile.model_validate_json(path.read_bytes())
    except ValidationError as exc:
        # Name the fields, never the values: the file holds tokens and secrets.
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise ValueError(f"{path}: {problems}") from None


async def seed(
    pool: asyncpg.Pool, data: BootstrapFile, *, keys: KeyRing | None = None, now: datetime | None = None
) -> None:
    now = now or utcnow()
    sealed = [i.integration_id for t in data.tenants for i in t.integrations if i.credentials]
    if sealed and keys is None:
        raise ValueError(
            f"bootstrap integrations {sealed} carry credentials but LEDGER_API_SECRETS_KEY is not set"
        )
    async with pool.acquire() as conn, conn.transaction():
        for t in data.tenants:
            await conn.execute(
                """
                INSERT INTO ledger.tenants (tenant_id, name, time_zone) VALUES ($1, $2, $3)
                ON CONFLICT (tenant_id) DO UPDATE SET name = excluded.name, time_zone = excluded.time_zone
                """,
                t.tenant_id,
                t.name,
                t.time_zone,
            )
            for token in t.api_tokens:
                owner, _ = await tokens_repo.add_hashed(
                    conn, t.tenant_id, token.get_secret_value(), name="bootstrap", scopes=["admin"]
                )
                if owner != t.tenant_id:
                    raise ValueError(
                        f"an API token of tenant {t.tenant_id!r} already belongs to another tenant"
                    )
            for i in t.integrations:
                creds = i.credentials
                await integrations_repo.upsert_seed(
                    conn,
                    t.tenant_id,
                    i.integration_id,
                    kind=i.kind,
                    display_name=i.display_name,
                    connection=creds.connection() if creds else None,
                    credentials=keys.encrypt_json(creds.entry()) if creds and keys else None,
                    key_id=keys.key_id if creds and keys else None,
                )
            for link in t.master_links:
                schedule = link.schedule or ScheduleSeed()
                local_time = schedule.local_time or time(6, 0)
                zone = schedule.time_zone or t.time_zone
                try:
                    await master_links_repo.upsert_seed(
                        conn,
                        t.tenant_id,
                        link.settings(),
                        local_time=local_time,
                        time_zone=zone,
                        next_run_at=next_daily_run(now, local_time, zone),
                    )
                except asyncpg.UniqueViolationError:
                    raise ValueError(
                        f"master link {link.master_link_id!r}: integration {link.integration_id!r} of "
                        f"tenant {t.tenant_id!r} already has a live master link"
                    ) from None
    log.info("bootstrap.seeded", tenants=[t.tenant_id for t in data.tenants])


async def seed_file(pool: asyncpg.Pool, path: Path, *, keys: KeyRing | None = None) -> None:
    await seed(pool, read_bootstrap_file(path), keys=keys)


class TenantExists(ValueError):
    pass


async def create_tenant(
    pool: asyncpg.Pool,
    tenant_id: str,
    *,
    name: str,
    time_zone: str = "UTC",
    sync_time: time = time(6, 0),
    token_name: str = "first admin",
) -> tuple[uuid.UUID, str]:
    """The operator command (R-A3): a new tenant and its first `admin` token, in one transaction,
    recorded in the tenant's audit log as done by the operator. Returns the token's id and secret
    (the secret is stored only as its sha256: the caller shows it once). TenantExists when the
    tenant exists already (nothing changes then); ValueError naming a bad argument."""
    checked = TenantSeed(tenant_id=tenant_id, name=name, time_zone=time_zone)  # the file's rules
    async with pool.acquire() as conn, conn.transaction():
        if not await tenants_repo.create_tenant(
            conn, checked.tenant_id, name=checked.name, time_zone=checked.time_zone, sync_time=sync_time
        ):
            raise TenantExists(f"tenant {tenant_id!r} exists already; nothing was changed")
        token, secret = await tokens_repo.create(
            conn, tenant_id, name=token_name, scopes=["admin"], now=utcnow()
        )
        settings = await tenants_repo.get_settings(conn, tenant_id)
        operator = audit.Actor(name="operator (create-tenant)")
        await audit.record(conn, tenant_id, operator, "tenant.create", "tenant", tenant_id, after=settings)
        after = {k: v for k, v in token.items() if k != "last_used_at"}
        token_id = str(token["token_id"])
        await audit.record(conn, tenant_id, operator, "token.create", "token", token_id, after=after)
    log.info("tenant.created", tenant_id=tenant_id, token_id=str(token["token_id"]))
    return token["token_id"], secret


def example() -> str:
    """A bootstrap file for a single demo tenant (documentation and the demo)."""
    return json.dumps(
        {
            "tenants": [
                {
                    "tenant_id": "demo",
                    "name": "Demo Co",
                    "time_zone": "Asia/Tokyo",
                    "api_tokens": ["demo-token-0123456789abcdef"],
                    "integrations": [
                        {"integration_id": "int-intune-1", "kind": "intune", "display_name": "Intune"}
                    ],
                    "master_links": [
                        {
                            "master_link_id": "ml-intune-1",
                            "integration_id": "int-intune-1",
                            "mdm_kind": "intune",
                            "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
                            "asset_number_source": "uuid",
                        }
                    ],
                }
            ]
        },
        indent=2,
    )
