"""`/v1/custom-fields` (R-C4), and the checks of custom field values on manual create/update (R-M8)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated, Any

from aiokafka.errors import KafkaError
from fastapi import APIRouter, Body, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_contracts import DeviceFieldsInput, UpdateDevice, codec, topics

from ..adapters.repositories import audit
from ..adapters.repositories import custom_fields as repo
from ..domain import custom_fields as rules
from ..errors import Conflict, NotFound, Unavailable, Unprocessable
from .deps import Conn, CurrentActor, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/custom-fields",
    tags=["custom fields"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}, 403: {"model": ErrorBody}},
)

_LABEL = Field(None, min_length=1, max_length=200, description="shown instead of the name; null = the name")
_CHOICES = Field(
    None,
    min_length=1,
    max_length=500,
    description="text fields only: the allowed values (each 1..200 characters); null = any text",
)


class CustomFieldIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "cost_center", "type": "text", "required": True},
                {"name": "site", "type": "text", "label": "Site", "choices": ["Tokyo", "Osaka"]},
            ]
        },
    )
    name: str = Field(pattern=rules.NAME_PATTERN, max_length=rules.NAME_MAX)
    type: rules.FieldType
    required: bool = False
    label: str | None = _LABEL
    choices: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = _CHOICES


class CustomFieldPatch(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"label": "Site", "required": True, "choices": ["Tokyo", "Osaka", "Nagoya"]}]
        },
    )
    label: str | None = _LABEL
    required: bool | None = Field(
        None, description="R-M8: enforced on devices created or edited by hand from now on"
    )
    choices: list[Annotated[str, Field(min_length=1, max_length=200)]] | None = _CHOICES


class CustomField(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "site",
                    "type": "text",
                    "required": False,
                    "label": "Site",
                    "choices": ["Tokyo", "Osaka"],
                    "created_at": "2026-11-29T09:00:00Z",
                    "updated_at": "2026-11-29T09:30:00Z",
                }
            ]
        }
    )
    name: str
    type: rules.FieldType
    required: bool
    label: str | None
    choices: list[str] | None
    created_at: datetime
    updated_at: datetime


class CustomFieldDeleted(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"name": "site", "deleted": True, "devices_losing_value": 12}]}
    )
    name: str
    deleted: bool
    devices_losing_value: int = Field(
        description="devices whose value the reconciler removes (each with a history entry); asynchronous"
    )


class CustomFieldList(BaseModel):
    items: list[CustomField]


@router.get("", response_model=CustomFieldList, summary="The tenant's custom device fields")
async def list_custom_fields(tenant: Tenant, conn: Conn) -> Response:
    """In order of creation, which is the order of their columns in the device CSV."""
    return LedgerJSONResponse({"items": await repo.list_all(conn, tenant)})


@router.post(
    "",
    status_code=201,
    response_model=CustomField,
    summary="Define a custom device field",
    responses={409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def create_custom_field(
    body: Annotated[CustomFieldIn, Body()], tenant: Tenant, conn: Conn, actor: CurrentActor
) -> Response:
    """`name` is `[a-z][a-z0-9_]*` (its CSV column is `custom_<name>`), unique per tenant. A required
    field is enforced on devices created by hand or by CSV from now on; existing devices and those
    the sync creates keep it empty until someone fills it (R-M8). `choices` (text fields only)
    limits the values a person may set."""
    if problem := rules.choice_problem(body.type, body.choices):
        raise Unprocessable(problem, [{"location": "body", "field": "choices", "message": problem}])
    async with conn.transaction():
        created = await repo.create(
            conn, tenant, body.name, body.type, body.required, body.label, body.choices
        )
        if created is None:
            raise Conflict(
                f"custom field {body.name!r} already exists", {"name": body.name}, code="custom_field_exists"
            )
        await audit.record(
            conn, tenant, actor, "custom_field.create", "custom_field", body.name, None, _audited(created)
        )
    return LedgerJSONResponse(created, status_code=201, headers={"Location": "/v1/custom-fields"})


def _audited(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d[k] for k in ("type", "required", "label", "choices")}


@router.patch(
    "/{name}",
    response_model=CustomField,
    summary="Edit a custom field's label, required flag or choices (R-C4)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)
async def edit_custom_field(
    request: Request,
    name: str,
    body: Annotated[CustomFieldPatch, Body()],
    tenant: Tenant,
    conn: Conn,
    actor: CurrentActor,
) -> Response:
    """Only the keys given change (`label: null` shows the name again, `choices: null` allows any
    text); the name and type never change. New choices that values devices hold no longer satisfy are
    **refused** (409 `choices_in_use`, naming each such value and how many devices hold it): change
    those devices first (PATCH or CSV), then the choices — a definition never disagrees with the data."""
    reject_unknown_query(request, ())
    given = body.model_fields_set
    if not given:
        raise Unprocessable("the body names nothing to change", code="empty_patch")
    if "required" in given and body.required is None:
        raise Unprocessable(
            "required may not be null",
            [{"location": "body", "field": "required", "message": "may not be null"}],
        )
    async with conn.transaction():
        before = await repo.get(conn, tenant, name, for_update=True)
        if before is None:
            raise NotFound(f"custom field {name!r} not found")
        label = body.label if "label" in given else before["label"]
        required = body.required if body.required is not None else before["required"]
        choices = body.choices if "choices" in given else before["choices"]
        if problem := rules.choice_problem(before["type"], choices):
            raise Unprocessable(problem, [{"location": "body", "field": "choices", "message": problem}])
        if "choices" in given and (
            outside := rules.outside_choices(choices, await repo.values_in_use(conn, tenant, name))
        ):
            devices = sum(outside.values())
            raise Conflict(
                f"{devices} device(s) hold values of {name!r} that the new choices do not allow: "
                + ", ".join(f"{v!r} ({n})" for v, n in outside.items())
                + "; change those devices first",
                {
                    "name": name,
                    "devices": devices,
                    "values": [{"value": v, "devices": n} for v, n in outside.items()],
                },
                code="choices_in_use",
            )
        after = await repo.update(conn, tenant, name, label=label, required=required, choices=choices)
        changed = sorted(k for k in ("label", "required", "choices") if before[k] != after[k])
        if changed:
            await audit.record(
                conn,
                tenant,
                actor,
                "custom_field.update",
                "custom_field",
                name,
                {k: before[k] for k in changed},
                {k: after[k] for k in changed},
            )
    return LedgerJSONResponse(after)


@router.delete(
    "/{name}",
    response_model=CustomFieldDeleted,
    summary="Delete a custom field; its values go too, once confirmed (R-C4)",
    responses={404: {"model": ErrorBody}, 409: {"model": ErrorBody}, 503: {"model": ErrorBody}},
)
async def delete_custom_field(
    request: Request,
    name: str,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    confirm_devices_losing_value: Annotated[
        int | None,
        Query(ge=0, description="the number of devices that lose their value, as the 409 answer named it"),
    ] = None,
) -> Response:
    """A field no device holds a value of is deleted at once. Otherwise the first call answers 409
    `custom_field_in_use` with `details.devices_losing_value`; calling again with
    `?confirm_devices_losing_value=<that number>` deletes the definition and has the reconciler remove
    the value from each of those devices (each gets a history entry; asynchronous: the devices show
    it within seconds). A number that no longer matches (values changed meanwhile) is refused again."""
    reject_unknown_query(request, ("confirm_devices_losing_value",))
    async with conn.transaction():
        before = await repo.get(conn, tenant, name, for_update=True)
        if before is None:
            raise NotFound(f"custom field {name!r} not found")
        holders = await repo.holders(conn, tenant, name)
        if holders and confirm_devices_losing_value != len(holders):
            raise Conflict(
                f"{len(holders)} device(s) hold a value of {name!r} and would lose it: "
                f"call again with ?confirm_devices_losing_value={len(holders)}",
                {
                    "name": name,
                    "devices_losing_value": len(holders),
                    "confirmed": confirm_devices_losing_value,
                },
                code="custom_field_in_use",
            )
        await repo.delete(conn, tenant, name)
        await audit.record(
            conn,
            tenant,
            actor,
            "custom_field.delete",
            "custom_field",
            name,
            {**_audited(before), "devices_losing_value": len(holders)},
            None,
        )
        # Published before the commit: if the broker refuses, the definition stays (503, try again).
        await _remove_values(state, tenant, name, holders)
    return LedgerJSONResponse({"name": name, "deleted": True, "devices_losing_value": len(holders)})


async def _remove_values(state: Any, tenant: str, name: str, device_ids: list[uuid.UUID]) -> None:
    """One `UpdateDevice` clearing the field per device (the reconciler removes a custom value set to
    null, with its history), published together and acknowledged before returning."""
    if not device_ids:
        return
    if state.producer is None:
        raise Unavailable("no broker connection", code="broker_unavailable")
    topic = topics.named(topics.COMMANDS, state.settings.topic_prefix)
    pending = []
    try:
        for device_id in device_ids:
            command = UpdateDevice(
                tenant_id=tenant, device_id=device_id, fields=DeviceFieldsInput(custom_fields={name: None})
            )
            key, value = codec.encode(command)
            pending.append(await state.producer.send(topic, value=value, key=key))
        await asyncio.wait_for(asyncio.gather(*pending), 30)
    except (KafkaError, TimeoutError) as exc:
        raise Unavailable(f"could not publish to {topic}: {exc!r}", code="broker_unavailable") from exc


def _reject(problems: list[rules.Problem]) -> Unprocessable:
    return Unprocessable(
        "; ".join(p.message for p in problems),
        [
            {"location": "body", "field": f"custom_fields.{p.field}", "problem": p.kind, "message": p.message}
            for p in problems
        ],
        code="invalid_custom_fields",
    )


async def checked_create(conn: Conn, tenant: str, body: DeviceFieldsInput) -> DeviceFieldsInput:
    """The body with canonical custom values; 422 naming each unknown, mistyped or missing field."""
    definitions = await repo.definitions(conn, tenant)
    values, problems = rules.check_values(definitions, dict(body.custom_fields or {}))
    problems += rules.missing_on_create(definitions, values)
    if problems:
        raise _reject(problems)
    if body.custom_fields is None:
        return body
    return body.model_copy(update={"custom_fields": {k: v for k, v in values.items() if v is not None}})


async def checked_update(
    conn: Conn, tenant: str, device_id: uuid.UUID, body: DeviceFieldsInput
) -> DeviceFieldsInput:
    if body.custom_fields is None:
        return body
    definitions = await repo.definitions(conn, tenant)
    values, problems = rules.check_values(definitions, dict(body.custom_fields))
    if not problems:
        current = await repo.current_values(conn, tenant, device_id)
        problems = rules.emptied_on_update(definitions, current, values)
    if problems:
        raise _reject(problems)
    return body.model_copy(update={"custom_fields": values})
