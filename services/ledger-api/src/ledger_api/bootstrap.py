"""Seeding tenants, API tokens, integrations and master links from a JSON file (demo and tests).

Format::

    {"tenants": [{"tenant_id": "demo", "name": "Demo Co", "time_zone": "Asia/Tokyo",
                  "api_tokens": ["<plain token>"],
                  "integrations": [{"integration_id": "int-intune-1", "kind": "intune",
                                    "display_name": "Intune (HQ)"}],
                  "master_links": [<MasterLinkSettings>]}]}

Seeding is idempotent and additive: tenants, integrations and master links are upserted, tokens
are added (only their sha256 is stored); nothing absent from the file is removed.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
import structlog
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from ledger_contracts import MasterLinkSettings, MdmKind

log = structlog.get_logger(__name__)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class _Seed(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class IntegrationSeed(_Seed):
    integration_id: str = Field(min_length=1)
    kind: MdmKind
    display_name: str | None = None


class TenantSeed(_Seed):
    tenant_id: str = Field(min_length=1, max_length=200)
    name: str = Field(min_length=1)
    time_zone: str = "UTC"
    api_tokens: list[SecretStr] = []
    integrations: list[IntegrationSeed] = []
    master_links: list[MasterLinkSettings] = []

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
    return BootstrapFile.model_validate_json(path.read_bytes())


async def seed(pool: asyncpg.Pool, data: BootstrapFile) -> None:
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
                owner = await conn.fetchval(
                    """
                    INSERT INTO ledger.api_tokens (token_hash, tenant_id) VALUES ($1, $2)
                    ON CONFLICT (token_hash) DO UPDATE SET token_hash = excluded.token_hash
                    RETURNING tenant_id
                    """,
                    token_hash(token.get_secret_value()),
                    t.tenant_id,
                )
                if owner != t.tenant_id:
                    raise ValueError(
                        f"an API token of tenant {t.tenant_id!r} already belongs to another tenant"
                    )
            for i in t.integrations:
                await conn.execute(
                    """
                    INSERT INTO ledger.integrations (tenant_id, integration_id, kind, display_name)
                    VALUES ($1, $2, $3, $4)
                    ON CONFLICT (tenant_id, integration_id)
                    DO UPDATE SET kind = excluded.kind, display_name = excluded.display_name
                    """,
                    t.tenant_id,
                    i.integration_id,
                    i.kind,
                    i.display_name,
                )
            for link in t.master_links:
                await conn.execute(
                    """
                    INSERT INTO ledger.master_links (tenant_id, master_link_id, integration_id, settings)
                    VALUES ($1, $2, $3, $4::jsonb)
                    ON CONFLICT (tenant_id, master_link_id)
                    DO UPDATE SET integration_id = excluded.integration_id, settings = excluded.settings
                    """,
                    t.tenant_id,
                    link.master_link_id,
                    link.integration_id,
                    link.model_dump_json(),
                )
    log.info("bootstrap.seeded", tenants=[t.tenant_id for t in data.tenants])


async def seed_file(pool: asyncpg.Pool, path: Path) -> None:
    await seed(pool, read_bootstrap_file(path))


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
