"""Sign-in with an API token, sign-out, language switch."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse, Response

from .api import Api, ApiError, detect_scope, tenant_time_zone_and_source
from .i18n import Translator
from .sessions import COOKIE
from .web import LANG_COOKIE, current_session, lang_choice, language, render, safe_next, set_cookie, state_of

router = APIRouter()
# The sign-in form has no session yet: its CSRF token is a double-submit cookie.
PRE_CSRF = "ledger_console_signin"


@router.get("/signin")
async def signin_form(request: Request, next: str = "/devices") -> Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "signin.html", next=safe_next(next), csrf=token, error=None)
    set_cookie(response, request, PRE_CSRF, token, max_age=3600)
    return response


@router.post("/signin")
async def signin(
    request: Request,
    token: Annotated[str, Form()] = "",
    csrf_token: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/devices",
) -> Response:
    t = Translator(language(request))
    expected = request.cookies.get(PRE_CSRF, "")
    if not expected or not hmac.compare_digest(expected, csrf_token):
        return render(request, "error.html", 403, message=t("err.csrf"))
    state = state_of(request)
    assert state.http is not None and state.caps is not None
    token = token.strip()

    def again(error: str, status: int) -> Response:
        fresh = secrets.token_urlsafe(24)
        response = render(request, "signin.html", status, next=safe_next(next), csrf=fresh, error=error)
        set_cookie(response, request, PRE_CSRF, fresh, max_age=3600)
        return response

    if not token:
        return again(t("signin.invalid"), 401)
    api = Api(state.http, token)
    try:
        await api.get("/v1/devices", {"limit": "1", "fields": "device_id"})
        scope = await detect_scope(api, state.caps)
        tz, tz_final = await tenant_time_zone_and_source(api, state.caps)
    except ApiError as exc:
        if exc.status in (401, 403):
            return again(t("signin.invalid"), 401)
        return again(t("signin.api_down", reason=f"{exc.status} {exc.code}"), 502)
    old = current_session(request)
    if old is not None:
        state.sessions.drop(old.session_id)
    session = state.sessions.create(token, scope, tz, time_zone_final=tz_final)
    response = RedirectResponse(safe_next(next), status_code=303)
    set_cookie(response, request, COOKIE, session.session_id, max_age=None)
    response.delete_cookie(PRE_CSRF, path="/")
    return response


@router.post("/signout")
async def signout(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    session = current_session(request)
    if session is not None and session.csrf_ok(csrf_token):
        state_of(request).sessions.drop(session.session_id)
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/lang/{code}")
async def switch_language(request: Request, code: str, next: str = "/devices") -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    chosen = lang_choice(code)
    if chosen is not None:
        set_cookie(response, request, LANG_COOKIE, chosen, max_age=365 * 24 * 3600)
    return response
