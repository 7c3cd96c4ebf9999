"""The Jamf Pro API surface the connector uses, over a `JamfSim` (FastAPI app factory).

Real paths and shapes: `POST /api/oauth/token` (form, RFC 6749 errors), `POST /api/v1/auth/token`
(basic) and `/keep-alive`, `GET /api/v{1..4}/computers-inventory` (versions not served -> 404),
`GET /api/v2/mobile-devices/detail`. Test controls live under `/_sim/` (no auth: never exposed).
Pages are written with `json.dumps` straight into a `Response`: no response models on the hot path.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
from typing import Any
from urllib.parse import parse_qs

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response

from .. import badinput
from .state import (
    ID_FIELD,
    QUOTA_VIOLATION_BODY,
    BadRequest,
    DeviceKind,
    Fault,
    JamfSim,
    Scheduled,
    Token,
    iso_z,
)

VERSION = "11.32.0-sim"


def jamf_error(status: int, code: str, description: str) -> JSONResponse:
    """Jamf Pro API error shape: {httpStatus, errors[{code, description, id, field}]}."""
    body = {
        "httpStatus": status,
        "errors": [{"code": code, "description": description, "id": "0", "field": None}],
    }
    return JSONResponse(body, status_code=status)


def _fault_response(fault: Fault) -> Response:
    headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after is not None else {}
    if fault.quota_violation:
        return JSONResponse(QUOTA_VIOLATION_BODY, status_code=fault.status, headers=headers)
    return JSONResponse(
        {"httpStatus": fault.status, "errors": [{"code": "SIMULATED_FAULT", "description": "injected"}]},
        status_code=fault.status,
        headers=headers,
    )


def _bad_page(
    sim: JamfSim,
    kind: DeviceKind,
    page: int,
    page_size: int,
    sort: str | None,
    section: list[str],
    filter_expr: str | None,
    raw: bytes,
) -> Response | None:
    """The page broken as the bad-input switches say (see mdm_sim.badinput), or None."""
    body = json.loads(raw)
    size = min(page_size, sim.config.max_page_size)
    with sim.lock:
        switches = sim.bad_inputs.take(page + 1, (page + 1) * size >= body["totalCount"])
    if not switches:
        return None
    sim.stats["bad_input_pages"] += 1
    id_field = ID_FIELD[kind]
    results: list[Any] = body["results"]
    for b in switches:
        if b.mode == "unauthorized_mid_pull":
            return jamf_error(401, "INVALID_TOKEN", "Unauthorized")
        if b.mode == "error_on_last_page":
            return jamf_error(500, "INTERNAL_SERVER_ERROR", "An internal server error occurred")
        if b.mode == "lying_total":
            body["totalCount"] += b.delta
        elif b.mode == "nextlink_loop" or not results:
            continue  # Jamf pages by number: there is no next link to loop
        elif b.mode == "duplicate_id":
            first = json.loads(sim.page(kind, 0, size, sort, section, filter_expr))["results"][0]
            results[0][id_field] = first[id_field]
        elif b.mode == "huge_string":
            badinput.set_path(results[0], b.field or "general.name", "x" * badinput.HUGE)
        elif b.mode == "invalid_utf8":
            default = "general.name" if kind == "computer" else "general.displayName"
            badinput.set_path(results[0], b.field or default, badinput.INVALID_UTF8_MARK)
        elif b.mode == "wrong_types":
            badinput.set_path(results[0], "hardware.serialNumber", 12345)
            badinput.set_path(results[0], "general.assetTag", ["A1"])
            badinput.set_path(results[0], "general.lastEnrolledDate", 20240101)
        elif b.mode == "null_object":
            results[0]["hardware"] = None
    return Response(badinput.encode(body, switches), media_type="application/json")


def build_jamf_app(sim: JamfSim) -> FastAPI:
    app = FastAPI(title="Jamf Pro simulator", version=VERSION, docs_url=None, redoc_url=None)
    app.state.sim = sim

    def bearer(request: Request) -> Token | None:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        return sim.valid_token(value.strip()) if scheme.lower() == "bearer" else None

    @app.middleware("http")
    async def faults(request: Request, call_next: Any) -> Response:
        path = request.url.path
        sim.requests.record(request.method, path)  # R-M6: writes are counted
        if path.startswith("/api/"):
            with sim.lock:
                sim.stats[f"requests {request.method} {path}"] += 1
            fault = sim.take_fault(path)
            if fault is not None:
                return _fault_response(fault)
        response: Response = await call_next(request)
        return response

    # --- auth ------------------------------------------------------------------------------------

    @app.post("/api/oauth/token")
    @app.post("/api/v1/oauth/token")
    async def oauth_token(request: Request) -> Response:
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return JSONResponse({"error": "unsupported_grant_type"}, status_code=400)
        ok_id = secrets.compare_digest(form.get("client_id", ""), sim.config.client_id)
        ok_secret = secrets.compare_digest(form.get("client_secret", ""), sim.config.client_secret)
        if not (ok_id and ok_secret):
            return JSONResponse(
                {"error": "invalid_client", "error_description": "client authentication failed"},
                status_code=400,
            )
        token = sim.issue_token("oauth")
        return JSONResponse(
            {
                "access_token": token.value,
                "scope": "api-role:1",
                "token_type": "Bearer",
                "expires_in": int(sim.config.oauth_token_lifetime_s),
            }
        )

    @app.post("/api/v1/auth/token")
    async def user_token(request: Request) -> Response:
        scheme, _, value = request.headers.get("authorization", "").partition(" ")
        try:
            user, _, password = base64.b64decode(value).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            user = password = ""
        ok = (
            scheme.lower() == "basic"
            and secrets.compare_digest(user, sim.config.username)
            and secrets.compare_digest(password, sim.config.password)
        )
        if not ok:
            return jamf_error(401, "INVALID_CREDENTIALS", "Unauthorized")
        token = sim.issue_token("user")
        return JSONResponse({"token": token.value, "expires": iso_z(token.expires_at)})

    @app.post("/api/v1/auth/keep-alive")
    async def keep_alive(request: Request) -> Response:
        current = bearer(request)
        if current is None or current.flavour != "user":  # only user tokens can be kept alive
            return jamf_error(401, "INVALID_TOKEN", "Unauthorized")
        sim.invalidate(current.value)  # keep-alive replaces the token, as the real one does
        with sim.lock:
            sim.stats["token.keep_alive"] += 1
        token = sim.issue_token("user")
        return JSONResponse({"token": token.value, "expires": iso_z(token.expires_at)})

    @app.post("/api/v1/auth/invalidate-token")
    async def invalidate_token(request: Request) -> Response:
        current = bearer(request)
        if current is None:
            return jamf_error(401, "INVALID_TOKEN", "Unauthorized")
        sim.invalidate(current.value)
        return Response(status_code=204)

    @app.get("/api/v1/jamf-pro-version")
    async def jamf_pro_version(request: Request) -> Response:
        if bearer(request) is None:
            return jamf_error(401, "INVALID_TOKEN", "Unauthorized")
        return JSONResponse({"version": VERSION})

    # --- inventory -------------------------------------------------------------------------------

    async def serve_page(
        request: Request,
        kind: DeviceKind,
        page: int,
        page_size: int,
        sort: str | None,
        section: list[str],
        filter_expr: str | None,
    ) -> Response:
        if bearer(request) is None:
            with sim.lock:
                sim.stats["unauthorized"] += 1
            return jamf_error(401, "INVALID_TOKEN", "Unauthorized")
        with sim.lock:
            sim.in_flight += 1
            sim.max_in_flight = max(sim.max_in_flight, sim.in_flight)
        try:
            if sim.config.page_delay_s:
                await asyncio.sleep(sim.config.page_delay_s)
            try:
                body = sim.page(kind, page, page_size, sort, section, filter_expr)
                if sim.bad_inputs.items:
                    broken = _bad_page(sim, kind, page, page_size, sort, section, filter_expr, body)
                    if broken is not None:
                        return broken
            except BadRequest as exc:
                return jamf_error(400, "INVALID_PARAMETER", str(exc))
        finally:
            with sim.lock:
                sim.in_flight -= 1
        sim.page_served()
        return Response(body, media_type="application/json")

    @app.get("/api/{version}/computers-inventory")
    async def computers_inventory(
        request: Request,
        version: str,
        page: int = 0,
        page_size: int = Query(100, alias="page-size"),
        sort: str | None = None,
        section: list[str] = Query(default_factory=list),
        filter: str | None = None,
    ) -> Response:
        if version not in sim.config.computer_versions:
            return jamf_error(404, "NOT_FOUND", f"No handler for /api/{version}/computers-inventory")
        return await serve_page(request, "computer", page, page_size, sort, section, filter)

    @app.get("/api/v2/mobile-devices/detail")
    async def mobile_devices_detail(
        request: Request,
        page: int = 0,
        page_size: int = Query(100, alias="page-size"),
        sort: str | None = None,
        section: list[str] = Query(default_factory=list),
        filter: str | None = None,
    ) -> Response:
        return await serve_page(request, "mobile", page, page_size, sort, section, filter)

    _control_routes(app, sim)
    return app


def _control_routes(app: FastAPI, sim: JamfSim) -> None:
    """`/_sim/…`: what tests and the bench use to steer the simulator."""

    @app.get("/_sim/stats")
    async def stats() -> dict[str, Any]:
        return sim.snapshot_stats()

    @app.get("/_sim/requests")
    async def requests() -> dict[str, Any]:
        """R-M6: {"reads", "token_requests", "writes", "write_samples"} since the simulator started."""
        return sim.requests.as_dict()

    @app.post("/_sim/stats/reset", status_code=204)
    async def reset_stats() -> None:
        sim.reset_stats()

    @app.patch("/_sim/config")
    async def patch_config(changes: dict[str, Any]) -> Response:
        try:
            with sim.lock:
                sim.config.update(changes)
        except BadRequest as exc:
            return jamf_error(400, "INVALID_PARAMETER", str(exc))
        return JSONResponse(
            {k: v for k, v in vars(sim.config).items() if "secret" not in k and "pass" not in k}
        )

    @app.get("/_sim/bad-input")
    async def list_bad_input() -> list[dict[str, Any]]:
        with sim.lock:
            return [b.as_dict() for b in sim.bad_inputs.items]

    @app.post("/_sim/bad-input", status_code=201)
    async def add_bad_input(request: Request) -> Response:
        """One switch or a list: {"mode": "lying_total", "delta": 7} (see mdm_sim.badinput)."""
        try:
            with sim.lock:
                added = sim.bad_inputs.add(json.loads(await request.body()))
        except (TypeError, ValueError) as exc:
            return jamf_error(422, "INVALID_PARAMETER", str(exc))
        return JSONResponse([b.as_dict() for b in added], status_code=201)

    @app.delete("/_sim/bad-input", status_code=204)
    async def clear_bad_input() -> None:
        with sim.lock:
            sim.bad_inputs.clear()

    @app.post("/_sim/faults", status_code=204)
    async def add_fault(body: dict[str, Any]) -> None:
        with sim.lock:
            sim.faults.append(Fault(**body))

    @app.delete("/_sim/faults", status_code=204)
    async def clear_faults() -> None:
        with sim.lock:
            sim.faults.clear()

    @app.post("/_sim/tokens/revoke", status_code=204)
    async def revoke_tokens() -> None:
        sim.revoke_all_tokens()

    @app.post("/_sim/schedule", status_code=204)
    async def schedule(body: dict[str, Any]) -> None:
        with sim.lock:
            sim.scheduled.append(Scheduled(**body))

    @app.post("/_sim/{kind}s")
    async def add_devices(kind: DeviceKind, request: Request) -> Response:
        body = json.loads(await request.body())
        records = body if isinstance(body, list) else [body]
        try:
            ids = [sim.put(kind, r) for r in records]
        except BadRequest as exc:
            return jamf_error(400, "INVALID_PARAMETER", str(exc))
        return JSONResponse({"ids": ids}, status_code=201)

    @app.patch("/_sim/{kind}s/{device_id}")
    async def patch_device(kind: DeviceKind, device_id: str, changes: dict[str, Any]) -> Response:
        try:
            return JSONResponse(sim.patch(kind, device_id, changes))
        except KeyError:
            return jamf_error(404, "NOT_FOUND", f"no {kind} {device_id}")

    @app.delete("/_sim/{kind}s/{device_id}", status_code=204)
    async def delete_device(kind: DeviceKind, device_id: str) -> Response:
        if not sim.remove(kind, device_id):
            return jamf_error(404, "NOT_FOUND", f"no {kind} {device_id}")
        return Response(status_code=204)
