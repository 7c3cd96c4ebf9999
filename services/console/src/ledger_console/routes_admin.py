"""Integrations (connect, test, state: R-S2, R-S3, R-A1) and master links (link with a preview,
daily sync time, sync now, change, unlink with the seed's two choices: R-M1, R-M7, R-S3–R-S5, R-A2)."""

from __future__ import annotations

import asyncio
import re
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from . import views
from .api import ApiError
from .web import Page, page, writer

router = APIRouter()
PageDep = Annotated[Page, Depends(page)]
WriterDep = Annotated[Page, Depends(writer)]

INTUNE_FIELDS = ("integration_id", "display_name", "azure_tenant_id", "client_id", "client_secret")
INTUNE_OPTIONAL = ("authority_url", "graph_base_url", "ca_bundle")
JAMF_FIELDS = (
    "integration_id",
    "display_name",
    "base_url",
    "client_id",
    "client_secret",
    "username",
    "password",
)
JAMF_OPTIONAL = ("ca_bundle",)
SECRET_FIELDS = frozenset({"client_secret", "password"})
MDM_KEYS = ("serial_number", "uuid", "device_name")
LEDGER_KEYS = ("serial_number", "asset_number")
ASSET_SOURCES = ("uuid", "device_name")
HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _form_text(form: Any, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


# --- integrations --------------------------------------------------------------------------------


async def _integrations_page(
    p: Page,
    status_code: int = 200,
    *,
    error: str | None = None,
    message: str | None = None,
    values: dict[str, str] | None = None,
    open_kind: str | None = None,
) -> Response:
    integrations = await p.integrations()
    if integrations is None:
        return p.render("error.html", 403, message=p.t("int.admin_only"))
    links = (await p.api.get("/v1/master-links")).get("items", [])
    link_of = {link["integration_id"]: link for link in links}
    rows = [
        {
            "integration": i,
            "state": views.integration_state(i, p.tz, p.t),
            "link": link_of.get(i["integration_id"]),
        }
        for i in integrations
    ]
    return p.render(
        "integrations.html",
        status_code,
        rows=rows,
        error=error,
        message=message,
        values=values or {},
        open_kind=open_kind,
        notice=p.request.query_params.get("notice"),
    )


@router.get("/integrations")
async def integrations(p: PageDep) -> Response:
    return await _integrations_page(p)


@router.post("/integrations")
async def connect(p: WriterDep, request: Request) -> Response:
    """Secrets go to the API once and are never put back into a page, not even after an error."""
    form = await request.form()
    kind = _form_text(form, "kind")
    if kind not in ("intune", "jamf_pro"):
        return await _integrations_page(p, 422, error="kind")
    names = (INTUNE_FIELDS + INTUNE_OPTIONAL) if kind == "intune" else (JAMF_FIELDS + JAMF_OPTIONAL)
    body: dict[str, str] = {"kind": kind}
    for name in names:
        value = _form_text(form, name)
        if value:
            body[name] = value
    if kind == "jamf_pro":
        if _form_text(form, "auth") == "user":
            body.pop("client_id", None)
            body.pop("client_secret", None)
        else:
            body.pop("username", None)
            body.pop("password", None)
    try:
        await p.api.request("POST", "/v1/integrations", json=body)
    except ApiError as exc:
        kept = {k: v for k, v in body.items() if k not in SECRET_FIELDS}
        return await _integrations_page(
            p, exc.status if exc.status < 500 else 502, error=_explain(p, exc), values=kept, open_kind=kind
        )
    return p.redirect("/integrations", notice="connected")


@router.post("/integrations/{integration_id}/secret")
async def rotate_secret(p: WriterDep, integration_id: str, request: Request) -> Response:
    """R-A1: a new client secret or password replaces the stored one (the integration and its link
    stay); it is sent to the API once and never shown."""
    form = await request.form()
    field = _form_text(form, "field")
    value = form.get("secret")
    if field not in SECRET_FIELDS or not isinstance(value, str) or not value:
        return await _integrations_page(p, 422, error=p.t("int.secret_missing"))
    if not await p.caps.has("PATCH", "/v1/integrations/{integration_id}"):
        return await _integrations_page(p, 409, error=p.t("int.rotate_unsupported"))
    try:
        await p.api.request("PATCH", f"/v1/integrations/{integration_id}", json={field: value})
    except ApiError as exc:
        return await _integrations_page(p, exc.status if exc.status < 500 else 502, error=_explain(p, exc))
    return await _integrations_page(p, message=p.t("int.rotated"))


@router.post("/integrations/{integration_id}/test")
async def test_connection(p: WriterDep, integration_id: str) -> Response:
    """R-A1: tries the stored credentials (the API's `POST /v1/integrations/{id}/test`)."""
    path = f"/v1/integrations/{integration_id}/test"
    if not await p.caps.has("POST", "/v1/integrations/{integration_id}/test"):
        return await _integrations_page(p, error=p.t("int.test_missing"))
    try:
        answer = await p.api.request("POST", path, ok=(404, 405, 422, 424, 502, 503))
    except ApiError as exc:
        return await _integrations_page(p, error=p.t("int.test_failed", reason=_explain(p, exc)))
    if answer.status in (404, 405) and not isinstance(answer.body, dict):
        return await _integrations_page(p, error=p.t("int.test_missing"))
    ok, reason = connection_test_outcome(answer.status, answer.body)
    if ok:
        return await _integrations_page(p, message=p.t("int.test_ok"))
    return await _integrations_page(p, error=p.t("int.test_failed", reason=reason))


def connection_test_outcome(status: int, body: Any) -> tuple[bool, str]:
    """Read a connection test's answer, whichever of the usual shapes the API gives."""
    if not isinstance(body, dict):
        return status < 300, str(status)
    if "error" in body and isinstance(body["error"], dict):
        err = body["error"]
        return False, f"{err.get('code', '')}: {err.get('message', '')}".strip(": ")
    ok = body.get("ok")
    if ok is None and "success" in body:
        ok = body.get("success")
    if ok is None:
        ok = str(body.get("status") or body.get("result") or "").lower() in (
            "ok",
            "succeeded",
            "success",
            "passed",
        )
    parts = [
        str(body[k])
        for k in ("failure", "category", "stage", "reason", "message", "detail")
        if body.get(k) and not isinstance(body[k], dict | list)
    ]
    return bool(ok) and status < 300, " — ".join(parts) or str(status)


def _explain(p: Page, exc: ApiError) -> str:
    fields = ""
    if isinstance(exc.details, list):
        named = [str(d.get("field")) for d in exc.details if isinstance(d, dict) and d.get("field")]
        if named:
            fields = " (" + ", ".join(named) + ")"
    return p.t("err.api", status=exc.status, code=exc.code, message=exc.message + fields)


# --- master links --------------------------------------------------------------------------------


@router.get("/links")
async def links(p: PageDep, request: Request) -> Response:
    removed = request.query_params.get("removed") == "1"
    items = (await p.api.get("/v1/master-links", {"include_removed": "true"} if removed else None)).get(
        "items", []
    )
    integrations = views.index_by(await p.integrations() or [], "integration_id")
    unlinked = [i for i in integrations.values() if i.get("state") != "master_linked"]
    return p.render(
        "links.html",
        links=items,
        integrations=integrations,
        unlinked=unlinked,
        show_removed=removed,
        notice=request.query_params.get("notice"),
        can_patch=await p.caps.has("PATCH", "/v1/master-links/{master_link_id}"),
    )


def link_settings(form: Any, tenant_tz: str) -> tuple[dict[str, Any], list[str]]:
    """The body of `POST /v1/master-links` from the form, and the names of wrong fields."""
    errors = []
    mdm, ledger = (
        _form_text(form, "mdm_key") or "serial_number",
        _form_text(form, "ledger_key") or "serial_number",
    )
    asset = _form_text(form, "asset_number_source") or "uuid"
    local_time = _form_text(form, "local_time") or "06:00"
    tz = _form_text(form, "time_zone") or tenant_tz
    if mdm not in MDM_KEYS:
        errors.append("mdm_key")
    if ledger not in LEDGER_KEYS:
        errors.append("ledger_key")
    if asset not in ASSET_SOURCES:
        errors.append("asset_number_source")
    if not HHMM.match(local_time):
        errors.append("local_time")
    if views.zone(tz).key != tz:
        errors.append("time_zone")
    body = {
        "integration_id": _form_text(form, "integration_id"),
        "matching_key": {"mdm": mdm, "ledger": ledger},
        "asset_number_source": asset,
        "schedule": {"local_time": local_time, "time_zone": tz},
    }
    if not body["integration_id"]:
        errors.append("integration_id")
    return body, errors


@router.get("/links/new")
async def new_link(p: PageDep, request: Request) -> Response:
    integrations = await p.integrations() or []
    candidates = [i for i in integrations if i.get("state") != "master_linked"]
    return p.render(
        "link_form.html",
        candidates=candidates,
        chosen=request.query_params.get("integration_id", ""),
        values={"local_time": "06:00", "time_zone": p.tz},
        errors=[],
        mdm_keys=MDM_KEYS,
        ledger_keys=LEDGER_KEYS,
        asset_sources=ASSET_SOURCES,
    )


PREVIEW_WAIT_SECONDS = 30.0  # a dry run of a few thousand devices takes seconds; beyond, the run page


async def _create_plan(p: Page, body: dict[str, Any]) -> dict[str, Any] | None:
    """A dry run of a link that does not exist yet, when the API offers one. The API answers at
    once with the dry run's sync run (`POST /v1/master-links/preview`); the page waits, bounded,
    for it to finish and shows its plan — or, if it takes longer, says where it can be followed."""
    for path in ("/v1/master-links/preview", "/v1/master-links/plan", "/v1/master-links/dry-run"):
        if await p.caps.has("POST", path):
            answer: dict[str, Any] = (await p.api.request("POST", path, json=body)).body
            run = answer.get("sync_run") or {}
            if not answer.get("plan_url") or not run.get("sync_run_id"):
                return answer  # an API that answers with the plan itself
            return await _finished_plan(p, str(run["sync_run_id"]), str(answer["plan_url"]))
    return None


async def _finished_plan(p: Page, run_id: str, plan_url: str) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + PREVIEW_WAIT_SECONDS
    run: dict[str, Any] = {}
    while asyncio.get_running_loop().time() < deadline:
        run = await p.api.get(f"/v1/sync-runs/{run_id}")
        if run.get("status") in ("completed", "failed", "refused"):
            break
        await asyncio.sleep(0.5)  # polling the public API for the dry run's end (no push channel)
    if run.get("status") != "completed":
        return {"pending_run": run_id, "status": run.get("status"), "error": run.get("error")}
    plan: dict[str, Any] = await p.api.get(plan_url, {"limit": "100"})
    return plan


@router.post("/links/preview")
async def preview_link(p: WriterDep, request: Request) -> Response:
    """Before a link is turned on: what it will do (R-M1, R-I5). The link is not created here."""
    form = await request.form()
    body, errors = link_settings(form, p.tz)
    integrations = await p.integrations() or []
    if errors:
        return p.render(
            "link_form.html",
            422,
            candidates=[i for i in integrations if i.get("state") != "master_linked"],
            chosen=body["integration_id"],
            values={k: _form_text(form, k) for k in ("local_time", "time_zone")},
            errors=errors,
            mdm_keys=MDM_KEYS,
            ledger_keys=LEDGER_KEYS,
            asset_sources=ASSET_SOURCES,
        )
    plan = await _create_plan(p, body)
    integration = next((i for i in integrations if i["integration_id"] == body["integration_id"]), None)
    ledger_total = await _count_hint(p)
    return p.render(
        "link_preview.html", body=body, plan=plan, integration=integration, ledger_hint=ledger_total
    )


async def _count_hint(p: Page) -> dict[str, bool]:
    """Whether the ledger already holds devices (one page of one row each: never a count of all)."""
    out = {}
    for source in ("manual", "intune", "jamf_pro"):
        page_ = await p.api.get("/v1/devices", {"source": source, "limit": "1", "fields": "device_id"})
        out[source] = bool(page_.get("items"))
    return out


@router.post("/links")
async def create_link(p: WriterDep, request: Request) -> Response:
    form = await request.form()
    body, errors = link_settings(form, p.tz)
    if errors:
        return p.redirect("/links/new", integration_id=body["integration_id"])
    answer = await p.api.request("POST", "/v1/master-links", json=body)
    run = (answer.body or {}).get("sync_run") or {}
    if run.get("sync_run_id"):
        return p.redirect(f"/runs/{run['sync_run_id']}", linked="1")
    return p.redirect("/links", notice="linked")


@router.post("/links/{link_id}/sync")
async def sync_now(p: WriterDep, link_id: str, request: Request) -> Response:
    """R-M7 "sync now", or a dry run that only reports what a sync would change."""
    form = await request.form()
    dry = form.get("dry_run") in ("1", "true", "on")
    answer = await p.api.request("POST", f"/v1/master-links/{link_id}/sync", json={"dry_run": dry})
    run_id = (answer.body or {}).get("sync_run_id")
    return p.redirect(f"/runs/{run_id}" if run_id else "/runs")


@router.get("/links/{link_id}/unlink")
async def unlink_dialog(p: PageDep, link_id: str) -> Response:
    link = await p.api.get(f"/v1/master-links/{link_id}")
    return p.render("unlink.html", link=link, error=None)


@router.post("/links/{link_id}/unlink")
async def unlink(p: WriterDep, link_id: str, request: Request) -> Response:
    """R-S4 keep the devices as manual / R-S5 delete them: the choice is required, never defaulted."""
    form = await request.form()
    choice = _form_text(form, "keep_devices")
    if choice not in ("true", "false"):
        link = await p.api.get(f"/v1/master-links/{link_id}")
        return p.render("unlink.html", 422, link=link, error=p.t("ml.unlink_prompt"))
    await p.api.request("DELETE", f"/v1/master-links/{link_id}", params={"keep_devices": choice})
    return p.redirect("/links", notice="unlinked")


@router.post("/links/{link_id}/pause")
async def pause(p: WriterDep, link_id: str) -> Response:
    """R-A2: a paused link is not scheduled and cannot be synced until it is resumed."""
    await p.api.request("POST", f"/v1/master-links/{link_id}/pause")
    return p.redirect("/links", notice="paused")


@router.post("/links/{link_id}/resume")
async def resume(p: WriterDep, link_id: str) -> Response:
    await p.api.request("POST", f"/v1/master-links/{link_id}/resume")
    return p.redirect("/links", notice="resumed")


async def _edit_page(p: Page, link_id: str, status_code: int = 200, **ctx: Any) -> Response:
    link = await p.api.get(f"/v1/master-links/{link_id}")
    sched = link.get("schedule") or {}
    return p.render(
        "link_edit.html",
        status_code,
        link=link,
        cur={
            "mdm_key": link["matching_key"]["mdm"],
            "ledger_key": link["matching_key"]["ledger"],
            "asset_number_source": link["asset_number_source"],
            "local_time": sched.get("local_time") or "06:00",
            "time_zone": sched.get("time_zone") or p.tz,
        },
        can_patch=await p.caps.has("PATCH", "/v1/master-links/{master_link_id}"),
        can_plan=await p.caps.has("POST", "/v1/master-links/{master_link_id}/settings/plan"),
        mdm_keys=MDM_KEYS,
        ledger_keys=LEDGER_KEYS,
        asset_sources=ASSET_SOURCES,
        error=ctx.pop("error", None),
        **ctx,
    )


@router.get("/links/{link_id}/edit")
async def edit_link(p: PageDep, link_id: str) -> Response:
    return await _edit_page(p, link_id)


@router.post("/links/{link_id}/schedule")
async def change_schedule(p: WriterDep, link_id: str, request: Request) -> Response:
    """R-A2, R-M7: the daily sync time changes at once (the API moves `next_run_at`)."""
    form = await request.form()
    local_time, tz = _form_text(form, "local_time"), _form_text(form, "time_zone")
    if not HHMM.match(local_time) or views.zone(tz).key != tz:
        return await _edit_page(
            p, link_id, 422, error=p.t("err.api", status=422, code="invalid", message="HH:MM, IANA")
        )
    if not await p.caps.has("PATCH", "/v1/master-links/{master_link_id}"):
        return await _edit_page(p, link_id, 409, error=p.t("ml.change_unsupported"))
    answer = await p.api.request(
        "PATCH",
        f"/v1/master-links/{link_id}",
        json={"schedule": {"local_time": local_time, "time_zone": tz}},
        ok=(409, 422),
    )
    if answer.status >= 400:
        return await _edit_page(p, link_id, answer.status, error=_answer_error(p, answer.status, answer.body))
    return p.redirect("/links", notice="schedule")


@router.post("/links/{link_id}/plan")
async def plan_settings(p: WriterDep, link_id: str, request: Request) -> Response:
    """R-A2: a new matching key or asset-number source is planned first (a dry run); nothing changes."""
    form = await request.form()
    body, errors = link_settings(form, p.tz)
    if [e for e in errors if e in ("mdm_key", "ledger_key", "asset_number_source")]:
        return await _edit_page(p, link_id, 422, error=", ".join(errors))
    link = await p.api.get(f"/v1/master-links/{link_id}")
    change = settings_change(link, body)
    if not change:
        return await _edit_page(p, link_id, 422, error=p.t("ml.no_change"))
    answer = await p.api.request(
        "POST", f"/v1/master-links/{link_id}/settings/plan", json=change, ok=(409, 422)
    )
    if answer.status >= 400:
        return await _edit_page(p, link_id, answer.status, error=_answer_error(p, answer.status, answer.body))
    return p.redirect(f"/links/{link_id}/plans/{answer.body['plan_id']}")


@router.get("/links/{link_id}/plans/{plan_id}")
async def settings_plan(p: PageDep, link_id: str, plan_id: str, request: Request) -> Response:
    """The planned change beside the current settings, what the dry run found, and "apply"."""
    plan = await p.api.get(f"/v1/master-links/{link_id}/settings/plans/{plan_id}")
    items = None
    if plan.get("status") in ("ready", "applied", "stale"):
        pcursor = request.query_params.get("pcursor")
        items = await p.api.get(
            f"/v1/sync-runs/{plan_id}/plan", {"limit": "100", **({"cursor": pcursor} if pcursor else {})}
        )
    finished = plan.get("status") != "planning"
    if request.query_params.get("fragment") == "1":  # the live part, polled by console.js
        return p.render("settings_plan_status.html", plan=plan, finished=finished)
    return p.render("settings_plan.html", plan=plan, items=items, link_id=link_id, finished=finished)


@router.post("/links/{link_id}/plans/{plan_id}/apply")
async def apply_plan(p: WriterDep, link_id: str, plan_id: str) -> Response:
    answer = await p.api.request(
        "POST", f"/v1/master-links/{link_id}/settings/apply", json={"plan_id": plan_id}, ok=(409, 422)
    )
    if answer.status >= 400:
        plan = await p.api.get(f"/v1/master-links/{link_id}/settings/plans/{plan_id}")
        return p.render(
            "settings_plan.html",
            answer.status,
            plan=plan,
            items=None,
            link_id=link_id,
            finished=True,
            error=_answer_error(p, answer.status, answer.body),
        )
    return p.redirect("/links", notice="changed")


def _answer_error(p: Page, status: int, body: Any) -> str:
    err = (body or {}).get("error", {}) if isinstance(body, dict) else {}
    return p.t("err.api", status=status, code=err.get("code", ""), message=err.get("message", ""))


def settings_change(link: dict[str, Any], body: dict[str, Any]) -> dict[str, Any]:
    """The body of `POST …/settings/plan`: only the matching settings that differ from the link's."""
    change: dict[str, Any] = {}
    if body["matching_key"] != link.get("matching_key"):
        change["matching_key"] = body["matching_key"]
    if body["asset_number_source"] != link.get("asset_number_source"):
        change["asset_number_source"] = body["asset_number_source"]
    return change
