"""CSV over HTTP: devices (R-C1, R-C2) and usage history (R-C3).

Uploads are the raw file as the request body (`Content-Type: text/csv`), UTF-8 (a BOM is fine), at
most `LEDGER_API_IMPORT_MAX_BYTES`. A file is checked whole before anything changes; a bad one gets
422 `invalid_csv` listing every error with its row (the header is row 1) and column.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Annotated, Any, Literal

import asyncpg
from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel

from ledger_contracts import ImportDevices, ImportRow, codec, topics

from ..adapters import kafka
from ..adapters.db import Connection
from ..adapters.repositories import custom_fields as custom_repo
from ..adapters.repositories import device_csv
from ..adapters.repositories import usage_history as usage_repo
from ..domain import device_csv as csvio
from ..domain import usage_history
from ..errors import ApiError, NotFound, Unprocessable
from . import commands
from .deps import Conn, State, Tenant, current_tenant
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    tags=["csv"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)

_ACCEPTED_TYPES = ("text/csv", "application/csv", "text/plain", "application/octet-stream")
_CSV_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"text/csv": {"schema": {"type": "string"}, "example": "asset_number,model\nPC-1,X1\n"}},
    }
}
_CSV_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorBody, "description": "the file is larger than LEDGER_API_IMPORT_MAX_BYTES"},
    415: {"model": ErrorBody, "description": "the body is not text/csv"},
    422: {"model": ErrorBody, "description": "invalid_csv: details lists {row, column, message}"},
}


class CsvResponse(StreamingResponse):
    media_type = "text/csv"


class TooLarge(ApiError):
    status = 413
    code = "too_large"


class UnsupportedMediaType(ApiError):
    status = 415
    code = "unsupported_media_type"


def invalid_csv(errors: list[csvio.RowError]) -> Unprocessable:
    errors = sorted(errors, key=lambda e: (e.row or 0, e.column or "", e.message))
    first = errors[0]
    where = f"row {first.row}" + (f", column {first.column}" if first.column else "") if first.row else "file"
    return Unprocessable(
        f"{len(errors)} error(s) in the file, nothing was changed; first: {where}: {first.message}",
        [e.as_dict() for e in errors[: csvio.MAX_ERRORS]],
        code="invalid_csv",
    )


async def read_csv(request: Request, limit: int) -> str:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind not in _ACCEPTED_TYPES:
        raise UnsupportedMediaType(
            f"send the file as the body with Content-Type: text/csv (got {kind or 'none'!r})"
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"the file is larger than {limit} bytes", {"limit": limit})
        chunks.append(chunk)
    try:
        return csvio.decode(b"".join(chunks))
    except csvio.InvalidFile as exc:
        raise invalid_csv([exc.error]) from exc


def _parse(text: str, read: Any, *args: Any) -> Any:
    """`read(text, *args)`, a file that is not CSV at all being a 422 like any other."""
    try:
        return read(text, *args)
    except csvio.InvalidFile as exc:
        raise invalid_csv([exc.error]) from exc


async def _stream(pool: asyncpg.Pool, header: list[str], rows: Any) -> AsyncIterator[str]:
    yield csvio.write_rows([header])
    # One connection for the whole download, apart from the request's: a 100,000-device export
    # streams from a server-side cursor in one read-only snapshot.
    async with pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        async for chunk in rows(conn):
            yield csvio.write_rows(chunk)


_CSV_OK: dict[int | str, dict[str, Any]] = {200: {"content": {"text/csv": {"schema": {"type": "string"}}}}}


# --- devices -----------------------------------------------------------------------------------


@router.get(
    "/v1/devices/export.csv",
    response_class=CsvResponse,
    responses=_CSV_OK,
    summary="Every device with every field, as CSV (R-C1)",
)
async def export_devices(tenant: Tenant, conn: Conn, state: State) -> Response:
    """Columns: device_id, the ledger fields, `custom_<name>` per custom field, the read-only
    columns (source, binding, missing flag, version, timestamps), the MDM-only fields (`mdm_…`).
    Ordered by asset number, then device id."""
    names = [d["name"] for d in await custom_repo.list_all(conn, tenant)]
    assert state.pool is not None

    def rows(c: Connection) -> AsyncIterator[list[asyncpg.Record]]:
        return device_csv.export_rows(c, tenant, names)

    return CsvResponse(
        _stream(state.pool, csvio.device_columns(names), rows),
        headers={"Content-Disposition": 'attachment; filename="devices.csv"'},
    )


class ImportStatus(BaseModel):
    import_id: uuid.UUID | None
    command_id: uuid.UUID | None
    status: Literal["valid", "pending", "applied", "rejected"]
    rows: int
    created: int | None
    updated: int | None
    unchanged: int | None
    error: dict[str, Any] | None
    requested_at: datetime | None = None
    finished_at: datetime | None = None


@router.post(
    "/v1/devices/import",
    response_model=ImportStatus,
    openapi_extra=_CSV_BODY,
    responses={**_CSV_ERRORS, 202: {"model": ImportStatus, "description": "published, not applied yet"}},
    summary="Create and update manual device data from CSV, all or nothing (R-C2)",
)
async def import_devices(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    validate_only: Annotated[bool, Query(description="check the file, change nothing")] = False,
) -> Response:
    """Rows with a `device_id` update that device, rows without one create a manual device. Only the
    file's ledger and custom columns are applied (an empty cell clears); `mdm_…` and read-only
    columns are ignored. The reconciler applies the whole file in one transaction; the answer is
    the import (200), or 202 when it is not applied within the wait (GET its Location)."""
    text = await read_csv(request, state.settings.import_max_bytes)
    definitions = await custom_repo.definitions(conn, tenant)
    file = _parse(text, csvio.read_device_file, definitions)
    if file.rows:  # every error at once: the rows that parsed are checked against the ledger too
        view = await device_csv.ledger_view(conn, tenant, file.named_devices)
        file.errors += csvio.check_against_ledger(file, view, definitions)
    if file.errors:
        raise invalid_csv(file.errors)
    if validate_only:
        creates = sum(r.device_id is None for r in file.rows)
        return LedgerJSONResponse(
            ImportStatus(
                import_id=None,
                command_id=None,
                status="valid",
                rows=len(file.rows),
                created=creates,
                updated=len(file.rows) - creates,
                unchanged=None,
                error=None,
            ).model_dump()
        )
    command = ImportDevices(
        tenant_id=tenant,
        import_id=uuid.uuid4(),
        rows=tuple(ImportRow(row=r.row, device_id=r.device_id, fields=r.fields) for r in file.rows),
    )
    size = len(codec.encode(command)[1])
    if size > state.settings.max_message_bytes:
        raise TooLarge(
            f"the import makes a {size}-byte command, more than {state.settings.max_message_bytes}: "
            "split the file",
            {"limit": state.settings.max_message_bytes},
        )
    await device_csv.record_import(
        conn, tenant, command.import_id, command.event_id, len(file.rows), command.occurred_at
    )
    try:
        await kafka.publish(
            state.producer, topics.named(topics.COMMANDS, state.settings.topic_prefix), command
        )
    except ApiError:
        await conn.execute("DELETE FROM ledger.device_imports WHERE import_id = $1", command.import_id)
        raise
    return await _import_answer(conn, state, tenant, command.import_id, len(file.rows))


def _wait_seconds(state: State, rows: int) -> float:
    """As long as a manual edit, plus a second per 2,000 rows (a reconciler applies 100,000 rows in
    well under a minute), at most LEDGER_API_IMPORT_WAIT_SECONDS."""
    settings = state.settings
    return min(settings.command_wait_seconds + rows / 2000, settings.import_wait_seconds)


async def _import_answer(
    conn: Connection, state: State, tenant: str, import_id: uuid.UUID, rows: int
) -> Response:
    async def finished() -> dict[str, Any] | None:
        found = await device_csv.get_import(conn, tenant, import_id)
        return found if found is not None and found["status"] != "pending" else None

    await commands.wait_for(finished, timeout=_wait_seconds(state, rows), signal=state.signal)
    found = await device_csv.get_import(conn, tenant, import_id)
    assert found is not None
    location = {"Location": f"/v1/devices/imports/{import_id}"}
    if found["status"] == "rejected":
        raise Unprocessable(
            f"the reconciler refused the import, nothing was changed: {found['error']['message']}",
            {"import_id": str(import_id), **found["error"]},
            code=found["error"]["code"],
        )
    return LedgerJSONResponse(
        found, status_code=200 if found["status"] == "applied" else 202, headers=location
    )


@router.get(
    "/v1/devices/imports/{import_id}",
    response_model=ImportStatus,
    responses={404: {"model": ErrorBody}},
    summary="An import's status: pending, applied (with counts) or rejected (with the reason)",
)
async def get_import(import_id: uuid.UUID, tenant: Tenant, conn: Conn) -> Response:
    found = await device_csv.get_import(conn, tenant, import_id)
    if found is None:
        raise NotFound(f"import {import_id} not found")
    return LedgerJSONResponse(found)


# --- usage history -------------------------------------------------------------------------------


@router.get(
    "/v1/usage-history/export.csv",
    response_class=CsvResponse,
    responses=_CSV_OK,
    summary="Who used which device from when to when, as CSV (R-C3)",
)
async def export_usage_history(tenant: Tenant, state: State) -> Response:
    """Columns device_id, asset_number, user, from, to (days; `to` empty = still in use)."""
    assert state.pool is not None

    def rows(c: Connection) -> AsyncIterator[list[asyncpg.Record]]:
        return usage_repo.export_rows(c, tenant)

    return CsvResponse(
        _stream(state.pool, list(usage_history.COLUMNS), rows),
        headers={"Content-Disposition": 'attachment; filename="usage-history.csv"'},
    )


class UsageImported(BaseModel):
    mode: Literal["replace", "append"]
    periods: int
    devices: int
    removed: int


@router.post(
    "/v1/usage-history/import",
    response_model=UsageImported,
    openapi_extra=_CSV_BODY,
    responses=_CSV_ERRORS,
    summary="Import usage history from CSV, all or nothing (R-C3)",
)
async def import_usage_history(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    mode: Annotated[
        Literal["replace", "append"],
        Query(description="replace: the file's devices get exactly its periods; append: add them"),
    ] = "replace",
) -> Response:
    """Rows name a device by device_id or asset_number. Periods of one device may not overlap (with
    each other, nor in `append` mode with those recorded). Written in one transaction."""
    text = await read_csv(request, state.settings.import_max_bytes)
    file = _parse(text, usage_history.read_usage_file, await usage_repo.devices(conn, tenant))
    if file.errors:
        raise invalid_csv(file.errors)
    async with conn.transaction():
        await usage_repo.lock(conn, tenant)
        kept = await usage_repo.recorded(conn, tenant, file.devices) if mode == "append" else []
        if errors := usage_history.overlaps(file.periods, kept):
            raise invalid_csv(errors)
        removed = await usage_repo.write(conn, tenant, file.periods, mode)
    return LedgerJSONResponse(
        {"mode": mode, "periods": len(file.periods), "devices": len(file.devices), "removed": removed}
    )
