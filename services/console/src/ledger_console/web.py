"""Request plumbing shared by every page: the session, the language, the API client, rendering,
and the two guards of every POST (a CSRF token of the session; an admin scope)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from . import views
from .api import Api, ApiError, Capabilities, tenant_time_zone_and_source
from .i18n import LANGS, Lang, Translator, negotiate
from .sessions import COOKIE, Session, SessionStore
from .settings import Settings

LANG_COOKIE = "ledger_console_lang"
COLUMNS_COOKIE = "ledger_console_columns"
HERE = Path(__file__).parent
TZ_RECHECK_SECONDS = 60.0


@dataclass
class ConsoleState:
    settings: Settings
    sessions: SessionStore
    templates: Jinja2Templates
    http: httpx.AsyncClient | None = None
    caps: Capabilities | None = None


class SignInRequired(Exception):
    """Raised by `page` without a live session: the handler redirects to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        self.next_path = next_path


class Refused(Exception):
    """A write the session may not do (403), or a form without its CSRF token (403)."""

    def __init__(self, key: str) -> None:
        self.key = key


def templates() -> Jinja2Templates:
    t = Jinja2Templates(directory=str(HERE / "templates"))
    t.env.globals["views"] = views
    t.env.filters["urlq"] = lambda v: quote(str(v), safe="")
    return t


def state_of(request: Request) -> ConsoleState:
    state: ConsoleState = request.app.state.console
    return state


def language(request: Request) -> Lang:
    return negotiate(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language"))


def is_tls(request: Request) -> bool:
    return request.url.scheme == "https"


def secure_cookies(request: Request) -> bool:
    configured = state_of(request).settings.cookie_secure
    return is_tls(request) if configured is None else configured


@dataclass
class Page:
    """One request of a signed-in user."""

    request: Request
    state: ConsoleState
    session: Session
    lang: Lang
    t: Translator
    api: Api
    caps: Capabilities

    @property
    def tz(self) -> str:
        return self.session.time_zone

    def render(self, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        return render(self.request, name, status_code, session=self.session, **context)

    async def integrations(self) -> list[dict[str, Any]] | None:
        """The tenant's integrations, or None when this token may not see them (a `read` token:
        the API keeps integrations to `admin`); pages then show what they can without them."""
        try:
            body = await self.api.get("/v1/integrations")
        except ApiError as exc:
            if exc.status == 403:
                return None
            raise
        items: list[dict[str, Any]] = body.get("items", [])
        return items

    def redirect(self, path: str, **notice: str) -> RedirectResponse:
        if notice:
            sep = "&" if "?" in path else "?"
            path += sep + "&".join(f"{k}={quote(v, safe='')}" for k, v in notice.items())
        return RedirectResponse(path, status_code=303)


def render(request: Request, name: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    lang = language(request)
    t = Translator(lang)
    session = context.pop("session", None)
    other: Lang = "en" if lang == "ja" else "ja"
    response = state_of(request).templates.TemplateResponse(
        request,
        name,
        {
            "t": t,
            "lang": lang,
            "other_lang": other,
            "session": session,
            "can_write": bool(session and session.can_write),
            "tz": session.time_zone if session else "UTC",
            "csrf": session.csrf_token if session else context.pop("csrf", ""),
            "path": request.url.path,
            "here": str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""),
            **context,
        },
        status_code=status_code,
    )
    return response


def current_session(request: Request) -> Session | None:
    return state_of(request).sessions.get(request.cookies.get(COOKIE))


async def page(request: Request) -> Page:
    """The dependency of every signed-in page."""
    session = current_session(request)
    if session is None:
        raise SignInRequired(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
    state = state_of(request)
    assert state.http is not None and state.caps is not None
    lang = language(request)
    api = Api(state.http, session.token)
    if not session.time_zone_final and time.monotonic() - session.time_zone_checked_at > TZ_RECHECK_SECONDS:
        session.time_zone_checked_at = time.monotonic()
        try:
            session.time_zone, session.time_zone_final = await tenant_time_zone_and_source(api, state.caps)
        except ApiError:
            pass  # keep the guess; the page itself will say what is wrong with the API
    return Page(
        request=request,
        state=state,
        session=session,
        lang=lang,
        t=Translator(lang),
        api=api,
        caps=state.caps,
    )


async def writer(request: Request) -> Page:
    """The dependency of every POST: a session, its CSRF token in the form, and an admin scope.
    A read-only session's forged POST is refused here, before anything reaches the API."""
    p = await page(request)
    form = await request.form()
    submitted = form.get("csrf_token")
    if not p.session.csrf_ok(submitted if isinstance(submitted, str) else None):
        raise Refused("err.csrf")
    if not p.session.can_write:
        raise Refused("err.forbidden")
    return p


def safe_next(value: str | None) -> str:
    """Only a path of this site (no scheme, no `//host`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/devices"
    return value


def set_cookie(response: Response, request: Request, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
        path="/",
    )


def lang_choice(value: str) -> Lang | None:
    return value if value in LANGS else None
