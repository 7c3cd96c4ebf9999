"""Bodies and responses of integrations and master links (they document /openapi.json)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ledger_contracts import MatchingKey

from ..domain.credentials import IntuneCredentials, JamfCredentials
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


class Integration(BaseModel):
    integration_id: str
    kind: Literal["intune", "jamf_pro"]
    display_name: str = Field(description='"-" when the integration has no display name (R-S3)')
    category: Literal["it_devices"]
    state: Literal["connected", "master_linked"] = Field(description="R-S2")
    master_link_ids: list[str] = Field(description="its live master link (at most one)")
    has_secret: bool = Field(description="credentials are stored (encrypted); they are never returned")
    connection: dict[str, str | None] = Field(description="the non-secret connection settings")
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
    status: Literal["active", "removed"]
    schedule: Schedule
    removed_at: datetime | None
    keep_devices: bool | None = Field(description="what the unlink asked for (removed links)")
    created_at: datetime
    last_sync_run: LastSyncRun | None


class MasterLinkList(BaseModel):
    items: list[MasterLink]


class MasterLinkCreated(MasterLink):
    sync_run: SyncRun = Field(description="the first full sync, started at once (trigger link_created)")


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
