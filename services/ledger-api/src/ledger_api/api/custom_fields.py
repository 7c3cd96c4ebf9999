"""`/v1/custom-fields` (R-C4), and the checks of custom field values on manual create/update (R-M8)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_contracts import DeviceFieldsInput

from ..adapters.repositories import custom_fields as repo
from ..domain import custom_fields as rules
from ..errors import Conflict, Unprocessable
from .deps import Conn, Tenant, current_tenant
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/custom-fields",
    tags=["custom fields"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)


class CustomFieldIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "cost_center", "type": "text", "required": True}]},
    )
    name: str = Field(pattern=rules.NAME_PATTERN, max_length=rules.NAME_MAX)
    type: rules.FieldType
    required: bool = False


class CustomField(BaseModel):
    name: str
    type: rules.FieldType
    required: bool
    created_at: datetime


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
async def create_custom_field(body: Annotated[CustomFieldIn, Body()], tenant: Tenant, conn: Conn) -> Response:
    """`name` is `[a-z][a-z0-9_]*` (its CSV column is `custom_<name>`), unique per tenant. A required
    field is enforced on devices created by hand or by CSV from now on; existing devices and those
    the sync creates keep it empty until someone fills it (R-M8)."""
    created = await repo.create(conn, tenant, body.name, body.type, body.required)
    if created is None:
        raise Conflict(
            f"custom field {body.name!r} already exists", {"name": body.name}, code="custom_field_exists"
        )
    return LedgerJSONResponse(created, status_code=201, headers={"Location": "/v1/custom-fields"})


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
