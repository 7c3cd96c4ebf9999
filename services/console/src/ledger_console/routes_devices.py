"""The device ledger (台帳, R-S1), a device's detail and history (R-I8, R-M11), CSV (R-C1, R-C2).

Every list is one page of the API's cursor: nothing loads the whole ledger (100,000 devices and
more). The CSV export is streamed through from the API, chunk by chunk.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response, StreamingResponse
from starlette.datastructures import UploadFile

from . import views
from .api import ApiError
from .web import COLUMNS_COOKIE, Page, page, set_cookie, writer

router = APIRouter()
PageDep = Annotated[Page, Depends(page)]
WriterDep = Annotated[Page, Depends(writer)]


@router.get("/devices")
async def device_list(p: PageDep, request: Request) -> Response:
    query = dict(request.query_params)
    filters = views.DeviceFilters.parse(query)
    remember = "setcols" in query or "cols" in query
    chosen = ",".join(request.query_params.getlist("col")) or query.get("cols")
    columns = views.parse_columns(chosen if remember else request.cookies.get(COLUMNS_COOKIE))
    cursor = query.get("cursor") or None
    trail = views.parse_trail(query.get("trail"))
    try:
        body = await p.api.get("/v1/devices", filters.api_params(columns, cursor))
    except ApiError as exc:
        if exc.status != 400 or not cursor:
            raise
        # A cursor made for another sort (or a stale one): start again from the first page.
        body = await p.api.get("/v1/devices", filters.api_params(columns, None))
        cursor, trail = None, []
    links = views.page_links(filters, trail, cursor, body.get("next_cursor"))
    response = p.render(
        "devices.html",
        devices=body.get("items", []),
        columns=columns,
        filters=filters,
        links=links,
        all_columns=views.COLUMNS,
        sorts=views.SORTS,
        sources=views.SOURCES,
        page_sizes=views.PAGE_SIZES,
        notice=query.get("notice"),
    )
    if remember:  # the column chooser is remembered
        set_cookie(response, request, COLUMNS_COOKIE, ",".join(columns), max_age=365 * 24 * 3600)
    return response


@router.get("/devices/export.csv")
async def export_csv(p: PageDep) -> Response:
    """R-C1: every device, every field, streamed from the API without holding the file."""
    ctx = p.api.stream("/v1/devices/export.csv")
    upstream = await ctx.__aenter__()

    async def body() -> AsyncIterator[bytes]:
        try:
            async for chunk in upstream.aiter_raw():
                yield chunk
        finally:
            await ctx.__aexit__(None, None, None)

    headers = {
        "Content-Disposition": upstream.headers.get("content-disposition")
        or 'attachment; filename="devices.csv"'
    }
    return StreamingResponse(
        body(), media_type=upstream.headers.get("content-type", "text/csv; charset=utf-8"), headers=headers
    )


@router.get("/devices/import")
async def import_form(p: PageDep) -> Response:
    return p.render("import.html", result=None, errors=None, error=None)


@router.post("/devices/import")
async def import_csv(p: WriterDep, request: Request) -> Response:
    """R-C2: the file goes to the API as is; a refusal's row-numbered errors are shown in the page."""
    form = await request.form()
    upload = form.get("file")
    validate_only = form.get("validate_only") in ("1", "on", "true")
    if not isinstance(upload, UploadFile) or not upload.filename:
        return p.render("import.html", 422, result=None, errors=None, error=p.t("import.no_file"))
    limit = p.state.settings.import_max_bytes
    data = await upload.read(limit + 1)
    if len(data) > limit:  # never send a cut file
        return p.render(
            "import.html", 413, result=None, errors=None, error=p.t("import.too_large", mb=limit >> 20)
        )
    params = {"validate_only": "true"} if validate_only else None
    try:
        answer = await p.api.request(
            "POST", "/v1/devices/import", params=params, content=data, content_type="text/csv", ok=(422,)
        )
    except ApiError as exc:
        return p.render(
            "import.html",
            exc.status if exc.status < 500 else 502,
            result=None,
            errors=None,
            error=p.t("err.api", status=exc.status, code=exc.code, message=exc.message),
        )
    if answer.status == 422:
        err = (answer.body or {}).get("error", {})
        details = err.get("details") if isinstance(err.get("details"), list) else []
        return p.render(
            "import.html",
            422,
            result=None,
            errors=details,
            error=err.get("message"),
            filename=upload.filename,
        )
    return p.render(
        "import.html", result=answer.body or {}, errors=None, error=None, filename=upload.filename
    )


@router.get("/devices/{device_id}")
async def device_detail(p: PageDep, device_id: str, request: Request) -> Response:
    hcursor = request.query_params.get("hcursor")
    params = {"limit": "50", **({"cursor": hcursor} if hcursor else {})}
    device, history, definitions, integrations = await asyncio.gather(
        p.api.get(f"/v1/devices/{device_id}"),
        p.api.get(f"/v1/devices/{device_id}/history", params),
        p.api.get("/v1/custom-fields"),
        p.integrations(),
    )
    by_id = views.index_by(integrations or [], "integration_id")
    kind = ((device.get("binding") or {}).get("mdm_kind")) or None
    timeline = [views.explain(e, by_id, p.tz, p.t, fallback_kind=kind) for e in history.get("items", [])]
    return p.render(
        "device.html",
        device=device,
        mdm=_mdm_rows(device.get("mdm")),
        custom=_custom_rows(definitions.get("items", []), device.get("custom_fields") or {}),
        timeline=timeline,
        next_history=history.get("next_cursor"),
        integration=by_id.get(str((device.get("binding") or {}).get("integration_id"))),
    )


def _mdm_rows(mdm: dict[str, Any] | None) -> list[tuple[str, Any]]:
    if not mdm:
        return []
    order = (
        "device_name",
        "mdm_device_id",
        "enrolled_at",
        "last_check_in_at",
        "primary_user_email",
        "disk_capacity_gb",
        "registration_status",
        "jamf_id",
        "udid",
        "username",
        "management_status",
    )
    rows = [(k, mdm.get(k)) for k in order if k in mdm and mdm.get(k) not in (None, "")]
    rows += [(k, v) for k, v in mdm.items() if k not in order and v not in (None, "")]
    return rows


def _custom_rows(definitions: list[dict[str, Any]], values: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        {
            "name": d.get("label") or d.get("name"),
            "type": d.get("type"),
            "required": d.get("required"),
            "value": values.get(d["name"]),
        }
        for d in definitions
    ]
