"""Sync runs with live progress, counts and skipped records (R-M7, R-M13, R-M14), dry-run plans,
and conflicts with their candidates side by side (R-M9)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from . import views
from .api import ApiError
from .web import Page, page, writer

router = APIRouter()
PageDep = Annotated[Page, Depends(page)]
WriterDep = Annotated[Page, Depends(writer)]


@router.get("/runs")
async def runs(p: PageDep, request: Request) -> Response:
    q = request.query_params
    params = {"limit": "50"}
    for name in ("master_link_id", "status", "cursor"):
        if q.get(name):
            params[name] = q[name]
    body = await p.api.get("/v1/sync-runs", params)
    return p.render(
        "runs.html",
        runs=body.get("items", []),
        next_cursor=body.get("next_cursor"),
        master_link_id=q.get("master_link_id", ""),
        first=bool(q.get("cursor")),
    )


async def _run_context(p: Page, run_id: str, pcursor: str | None) -> dict[str, Any]:
    run = await p.api.get(f"/v1/sync-runs/{run_id}")
    plan = None
    if run.get("dry_run") and run.get("status") == "completed":
        params = {"limit": "100", **({"cursor": pcursor} if pcursor else {})}
        try:
            plan = await p.api.get(f"/v1/sync-runs/{run_id}/plan", params)
        except ApiError as exc:
            if exc.status != 404:
                raise
    issues = run.get("issues")
    if not isinstance(issues, list) and await p.caps.has("GET", "/v1/sync-runs/{sync_run_id}/issues"):
        issues = (await p.api.get(f"/v1/sync-runs/{run_id}/issues")).get("items", [])
    return {
        "run": run,
        "plan": plan,
        "issues": issues if isinstance(issues, list) else None,
        "percent": views.progress(run),
        "finished": views.is_finished(run),
    }


@router.get("/runs/{run_id}")
async def run_detail(p: PageDep, run_id: str, request: Request) -> Response:
    ctx = await _run_context(p, run_id, request.query_params.get("pcursor"))
    if request.query_params.get("fragment") == "1":  # the live part, polled by console.js
        return p.render("run_status.html", **ctx)
    return p.render("run.html", linked=request.query_params.get("linked") == "1", **ctx)


@router.get("/audit")
async def audit_log(p: PageDep, request: Request) -> Response:
    """R-A4: who did what and when, newest first, one page of the API's cursor at a time."""
    if not await p.caps.has("GET", "/v1/audit-log"):
        return p.render("error.html", 404, message=p.t("audit.unsupported"))
    q = request.query_params
    params = {"limit": "50"}
    for name in ("action", "target_type", "cursor"):
        if q.get(name):
            params[name] = q[name][:200]
    body = await p.api.get("/v1/audit-log", params)
    filters = {k: q.get(k, "") for k in ("action", "target_type") if q.get(k)}
    return p.render(
        "audit.html",
        entries=body.get("items", []),
        next_cursor=body.get("next_cursor"),
        filters=filters,
        first=bool(q.get("cursor")),
        compact=compact,
    )


def compact(value: Any) -> str:
    """A before/after object on one line: `key: value, …` (the API has already masked secrets)."""
    if value is None:
        return ""
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_nested(v)}" for k, v in value.items() if v not in (None, "", [], {}))
    return _nested(value)


def _nested(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + compact(value) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_nested(v) for v in value) + "]"
    return str(value)


@router.get("/conflicts")
async def conflicts(p: PageDep, request: Request) -> Response:
    q = request.query_params
    status = q.get("status", "open")
    params = {"limit": "50", **({"status": status} if status in ("open", "resolved") else {})}
    if q.get("cursor"):
        params["cursor"] = q["cursor"]
    body = await p.api.get("/v1/conflicts", params)
    return p.render(
        "conflicts.html",
        conflicts=body.get("items", []),
        next_cursor=body.get("next_cursor"),
        status=status,
        first=bool(q.get("cursor")),
    )


@router.get("/conflicts/{conflict_id}")
async def conflict_detail(p: PageDep, conflict_id: str, request: Request) -> Response:
    conflict = await p.api.get(f"/v1/conflicts/{conflict_id}")
    return p.render(
        "conflict.html",
        conflict=conflict,
        compare=compare_rows(conflict),
        error=None,
        notice=request.query_params.get("notice"),
    )


COMPARED = ("asset_number", "serial_number", "model", "assigned_user", "source", "bound_to")
OBSERVED_AS = {
    "asset_number": ("asset_number", "asset_tag"),
    "serial_number": ("serial_number",),
    "model": ("model",),
    "assigned_user": ("assigned_user", "primary_user_email", "user_email", "username"),
    "source": (),
    "bound_to": ("mdm_device_id",),
}


def compare_rows(conflict: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per field: the MDM's value beside each candidate's, with a flag where they agree."""
    observed = conflict.get("observed") or {}
    rows = []
    for name in (*COMPARED, "device_name"):
        mdm_value = None
        for key in OBSERVED_AS.get(name, (name,)):
            if observed.get(key) not in (None, ""):
                mdm_value = observed[key]
                break
        values = []
        for c in conflict.get("candidates") or []:
            v = c.get(name)
            if isinstance(v, dict):
                v = " / ".join(str(x) for x in v.values() if x)
            values.append(v)
        if name == "device_name" and mdm_value is None:
            continue
        rows.append(
            {
                "field": name,
                "mdm": mdm_value,
                "values": values,
                "same": [
                    mdm_value is not None and str(v or "").casefold() == str(mdm_value).casefold()
                    for v in values
                ],
            }
        )
    return rows


@router.post("/conflicts/{conflict_id}/resolve")
async def resolve(p: WriterDep, conflict_id: str, request: Request) -> Response:
    form = await request.form()
    resolution = form.get("resolution")
    body: dict[str, Any] = {"resolution": resolution}
    if resolution == "link":
        body["device_id"] = form.get("device_id")
    answer = await p.api.request("POST", f"/v1/conflicts/{conflict_id}/resolve", json=body, ok=(409, 422))
    if answer.status >= 400:
        conflict = await p.api.get(f"/v1/conflicts/{conflict_id}")
        err = (answer.body or {}).get("error", {})
        return p.render(
            "conflict.html",
            answer.status,
            conflict=conflict,
            compare=compare_rows(conflict),
            error=p.t("err.api", status=answer.status, code=err.get("code"), message=err.get("message")),
            notice=None,
        )
    return p.redirect(f"/conflicts/{conflict_id}", notice="accepted" if answer.status == 202 else "resolved")
