"""Bodies and responses of integrations and master links (they document /openapi.json)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from ledger_contracts import MatchingKey

from ..domain.credentials import CaBundle, IntuneCredentials, JamfCredentials, Name, Url
from .schemas import SyncRun

Id = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]
DisplayName = Annotated[
    str | None, Field(default=None, max_length=200, description='shown as "-" when empty')
]

# --- integrations -----------------------------------------------------------------------------


class _NewIntegration(BaseModel):
    integration_id: Id | None = Field(None, description="default: a new id (int-…)")
    display_name: DisplayName = None


class NewIntuneIntegration(IntuneCredentials, _NewIntegration):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "intune",
                    "display_name": "Contoso Intune",
                    "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                    "client_id": "0c4f9b0e-6a51-4b4f-9a8b-3f1b6c2d7e90",
                    "client_secret": "<client secret>",
                }
            ]
        }
    )


class NewJamfIntegration(JamfCredentials, _NewIntegration):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "kind": "jamf_pro",
                    "display_name": "Jamf Tokyo",
                    "base_url": "https://tokyo.jamfcloud.com",
                    "client_id": "b6f7c2d4-api-client",
                    "client_secret": "<client secret>",
                },
                {
                    "kind": "jamf_pro",
                    "base_url": "https://jamf.example.com:8443",
                    "username": "ledger-sync",
                    "password": "<password>",
                },
            ]
        }
    )


NewIntegration = Annotated[NewIntuneIntegration | NewJamfIntegration, Field(discriminator="kind")]


Failure = Literal["authentication", "consent_or_permission", "network", "tls", "mdm_error"]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=4000)]


class IntegrationError(BaseModel):
    kind: Literal["authentication", "consent_or_permission", "network", "tls", "mdm_error", "sync_failed"]
    message: str | None = Field(description="what failed, never a secret")
    at: datetime
    sync_run_id: uuid.UUID | None = Field(description="the failed sync run (kind `sync_failed`)")


class Integration(BaseModel):
    integration_id: str
    kind: Literal["intune", "jamf_pro"]
    display_name: str = Field(description='"-" when the integration has no display name (R-S3)')
    category: Literal["it_devices"]
    state: Literal["untested", "connected", "master_linked", "error"] = Field(
        description="R-S2, R-A1: `connected` (連携済) = the last connection test or sync succeeded; "
        "`master_linked` = a live master link uses it (and it is not failing); `error` = the last test "
        "or sync failed (see `error`); `untested` = never tried"
    )
    master_link_ids: list[str] = Field(description="its live master link (at most one)")
    has_secret: bool = Field(description="credentials are stored (encrypted); they are never returned")
    connection: dict[str, str | None] = Field(description="the non-secret connection settings")
    error: IntegrationError | None = Field(
        None, description="why the last attempt (test or sync) failed; null when it succeeded"
    )
    last_succeeded_at: datetime | None = Field(None, description="the last successful test or sync")
    last_tested_at: datetime | None = Field(None, description="the last connection test (R-A1)")
    created_at: datetime
    updated_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "integration_id": "int-intune-1",
                    "kind": "intune",
                    "display_name": "Contoso Intune",
                    "category": "it_devices",
                    "state": "master_linked",
                    "master_link_ids": ["ml-intune-1"],
                    "has_secret": True,
                    "connection": {
                        "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                        "client_id": "0c4f9b0e-6a51-4b4f-9a8b-3f1b6c2d7e90",
                        "authority_url": None,
                        "graph_base_url": None,
                        "ca_bundle": None,
                    },
                    "created_at": "2026-11-26T06:00:00Z",
                    "updated_at": "2026-11-26T06:00:00Z",
                }
            ]
        }
    )


class IntegrationList(BaseModel):
    items: list[Integration]


class IntegrationPatch(BaseModel):
    """R-A1: only the keys to change. A rotated secret is sealed at once and carried by the next
    sync request; the integration keeps its id and its master link. Jamf Pro: giving `username` or
    `password` switches to user sign-in, `client_id` or `client_secret` to an API client (both
    halves are then needed, the stored one counts). `null` clears an optional URL or CA bundle."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {"client_secret": "<new client secret>"},
                {"display_name": "Contoso Intune (EU)", "graph_base_url": "https://graph.microsoft.com"},
                {"username": "ledger-sync", "password": "<new password>"},
            ]
        },
    )

    display_name: DisplayName = None
    azure_tenant_id: Name | None = Field(None, description="Intune")
    client_id: Name | None = None
    client_secret: Secret | None = None
    authority_url: Url | None = Field(None, description="Intune; null: the public cloud's")
    graph_base_url: Url | None = Field(None, description="Intune; null: https://graph.microsoft.com")
    base_url: Url | None = Field(None, description="Jamf Pro")
    username: Name | None = Field(None, description="Jamf Pro")
    password: Secret | None = Field(None, description="Jamf Pro")
    ca_bundle: CaBundle = None


class IntegrationTest(BaseModel):
    """R-A1: what the connection test found (a successful test makes the integration `connected`)."""

    integration_id: str
    ok: bool
    failure: Failure | None = Field(description="which kind of problem; null when ok")
    step: Literal["url", "token", "devices"] = Field(description="the last step tried")
    message: str = Field(description="what happened, never a secret")
    tested_at: datetime
    state: Literal["untested", "connected", "master_linked", "error"]

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "integration_id": "int-intune-1",
                    "ok": False,
                    "failure": "authentication",
                    "step": "token",
                    "message": "Entra ID refused the token: invalid_client: AADSTS7000215: Invalid client "
                    "secret provided.",
                    "tested_at": "2026-11-29T09:00:00Z",
                    "state": "error",
                }
            ]
        }
    )


# --- master links -----------------------------------------------------------------------------


class ScheduleIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    local_time: str | None = Field(
        None, pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="HH:MM; default the tenant's (06:00)"
    )
    time_zone: str | None = Field(None, max_length=64, description="IANA zone; default the tenant's")

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return ZoneInfo(value).key
        except (ZoneInfoNotFoundError, ValueError, OSError):
            raise ValueError("unknown time zone (use an IANA name such as Asia/Tokyo)") from None


class NewMasterLink(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "integration_id": "int-intune-1",
                    "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
                    "asset_number_source": "device_name",
                    "schedule": {"local_time": "06:00", "time_zone": "Asia/Tokyo"},
                }
            ]
        },
    )

    integration_id: Id
    master_link_id: Id | None = Field(None, description="default: a new id (ml-…)")
    matching_key: MatchingKey = Field(default_factory=MatchingKey, description="R-M1")
    asset_number_source: Literal["uuid", "device_name"] = Field("uuid", description="R-I5")
    schedule: ScheduleIn | None = Field(None, description="R-M7: daily sync time")


class Schedule(BaseModel):
    local_time: str
    time_zone: str
    next_run_at: datetime | None


class LastSyncRun(BaseModel):
    sync_run_id: uuid.UUID
    status: str
    finished_at: datetime | None


class MasterLink(BaseModel):
    master_link_id: str
    integration_id: str
    integration_display_name: str
    mdm_kind: Literal["intune", "jamf_pro"]
    matching_key: MatchingKey
    asset_number_source: Literal["uuid", "device_name"]
    generation: int = Field(0, description="R-M12: raised at creation, settings change and unlink")
    status: Literal["active", "paused", "removed"] = Field(
        description="paused: not scheduled, no sync now (R-A2)"
    )
    schedule: Schedule
    removed_at: datetime | None
    paused_at: datetime | None = None
    keep_devices: bool | None = Field(description="what the unlink asked for (removed links)")
    created_at: datetime
    last_sync_run: LastSyncRun | None


class MasterLinkList(BaseModel):
    items: list[MasterLink]


class MasterLinkCreated(MasterLink):
    sync_run: SyncRun = Field(description="the first full sync, started at once (trigger link_created)")


class LinkPreview(BaseModel):
    """A dry run of a master link that does not exist yet (R-M1, R-I5, R-A2): what linking would
    create, update or leave in conflict. Nothing is linked or changed."""

    master_link_id: str = Field(description="the id the link would get (pass it when creating it)")
    integration_id: str
    matching_key: dict[str, str]
    asset_number_source: str
    plan_url: str = Field(description="read the planned items here once `sync_run.status` is `completed`")
    sync_run: SyncRun

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "master_link_id": "ml-intune-hq",
                    "integration_id": "int-intune-1",
                    "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
                    "asset_number_source": "device_name",
                    "plan_url": "/v1/sync-runs/0b7e2a44-8c1e-4d55-9f8a-3c2b1a000009/plan",
                    "sync_run": {
                        "sync_run_id": "0b7e2a44-8c1e-4d55-9f8a-3c2b1a000009",
                        "master_link_id": "ml-intune-hq",
                        "integration_id": "int-intune-1",
                        "status": "requested",
                        "trigger": "manual",
                        "dry_run": True,
                    },
                }
            ]
        }
    )


class UnlinkAccepted(BaseModel):
    status: Literal["accepted"]
    master_link_id: str
    integration_id: str
    keep_devices: bool
    command_id: uuid.UUID = Field(description="event id of the UnlinkMasterLink command")
    removed_at: datetime

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "status": "accepted",
                    "master_link_id": "ml-intune-1",
                    "integration_id": "int-intune-1",
                    "keep_devices": True,
                    "command_id": "5f0c2f8e-0b7e-4d8c-9f57-1c4b8d7f0a11",
                    "removed_at": "2026-11-26T09:12:00Z",
                }
            ]
        }
    )


# --- master link administration (R-A2) -----------------------------------------------------------


class MasterLinkPatch(BaseModel):
    """R-A2: the daily sync time; `next_run_at` moves to the next occurrence of the new time."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"schedule": {"local_time": "07:30", "time_zone": "Europe/Paris"}}]},
    )

    schedule: ScheduleIn = Field(description="local time (HH:MM) and/or IANA time zone")


class SettingsChange(BaseModel):
    """R-A2: the matching settings to plan; keys left out keep their current value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"matching_key": {"mdm": "device_name", "ledger": "asset_number"}},
                {"asset_number_source": "device_name"},
            ]
        },
    )

    matching_key: MatchingKey | None = Field(None, description="R-M1, R-M15 (device_name)")
    asset_number_source: Literal["uuid", "device_name"] | None = Field(None, description="R-I5")


class MatchingSettings(BaseModel):
    matching_key: MatchingKey
    asset_number_source: Literal["uuid", "device_name"]


class SettingsPlan(BaseModel):
    """A dry run with the proposed settings: read its items at `plan_url` once `sync_run.status`
    is `completed`, then apply it with `POST /v1/master-links/{id}/settings/apply`."""

    plan_id: uuid.UUID = Field(description="= the dry run's sync_run_id")
    master_link_id: str
    status: Literal["planning", "ready", "failed", "refused", "applied", "stale"] = Field(
        description="`failed`/`refused`: the dry run ended so (its `sync_run.error` says why); plan again"
    )
    current: MatchingSettings
    proposed: MatchingSettings
    base_generation: int
    plan_url: str
    sync_run: SyncRun | None = None
    created_at: datetime
    applied_at: datetime | None

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "plan_id": "8d3c7a10-2b4e-4f61-9c0d-5e7f8a9b1c2d",
                    "master_link_id": "ml-intune-1",
                    "status": "planning",
                    "current": {
                        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
                        "asset_number_source": "uuid",
                    },
                    "proposed": {
                        "matching_key": {"mdm": "device_name", "ledger": "asset_number"},
                        "asset_number_source": "uuid",
                    },
                    "base_generation": 3,
                    "plan_url": "/v1/sync-runs/8d3c7a10-2b4e-4f61-9c0d-5e7f8a9b1c2d/plan",
                    "created_at": "2026-11-29T09:00:00Z",
                    "applied_at": None,
                }
            ]
        }
    )


class ApplySettings(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"plan_id": "8d3c7a10-2b4e-4f61-9c0d-5e7f8a9b1c2d"}]},
    )

    plan_id: uuid.UUID = Field(description="from POST …/settings/plan; its dry run must be completed")
