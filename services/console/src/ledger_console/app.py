"""The composition root: `build_app(settings, *, transport=None)` (STYLE §2).

Nothing happens at import time. The lifespan opens one HTTP client to the ledger API (tests pass
an `httpx.ASGITransport` of the real API app) and closes it. Pages are server-rendered; the few
scripts (live run progress, the unlink dialog) only enhance forms that work without them.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from urllib.parse import quote

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from . import routes_admin, routes_auth, routes_devices, routes_runs
from .api import ApiError, ApiUnavailable, Capabilities
from .i18n import Translator
from .sessions import SessionStore
from .settings import Settings
from .web import HERE, ConsoleState, Refused, SignInRequired, current_session, language, render, templates

log = structlog.get_logger(__name__)

# No inline script or style anywhere: the policy forbids them, so an injected one cannot run.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)


def build_app(settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None) -> FastAPI:
    state = ConsoleState(
        settings=settings,
        sessions=SessionStore(settings.session_idle_seconds),
        templates=templates(),
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with httpx.AsyncClient(
            base_url=settings.api_url,
            transport=transport,
            timeout=settings.api_timeout_seconds,
            trust_env=False,
        ) as http:
            state.http = http
            state.caps = Capabilities(http)
            log.info("console.started", api_url=settings.api_url)
            yield
        log.info("console.stopped")

    app = FastAPI(
        title="Device ledger console", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None
    )
    app.state.console = state
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(routes_auth.router)
    app.include_router(routes_devices.router)
    app.include_router(routes_admin.router)
    app.include_router(routes_runs.router)

    @app.middleware("http")
    async def security_headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        if not request.url.path.startswith("/static/"):
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    @app.exception_handler(SignInRequired)
    async def to_sign_in(request: Request, exc: SignInRequired) -> Response:
        if request.method != "GET":
            return render(request, "error.html", 403, message=Translator(language(request))("err.forbidden"))
        return RedirectResponse(f"/signin?next={quote(exc.next_path, safe='')}", status_code=303)

    @app.exception_handler(Refused)
    async def refused(request: Request, exc: Refused) -> Response:
        t = Translator(language(request))
        return render(request, "error.html", 403, message=t(exc.key), session=current_session(request))

    @app.exception_handler(ApiError)
    async def api_error(request: Request, exc: ApiError) -> Response:
        t = Translator(language(request))
        session = current_session(request)
        if exc.status == 401 and session is not None:  # the token was revoked: sign in again
            state.sessions.drop(session.session_id)
            return RedirectResponse("/signin", status_code=303)
        if isinstance(exc, ApiUnavailable):
            message = t("signin.api_down", reason=exc.message)
        elif exc.status == 404:
            message = t("err.not_found")
        else:
            message = t("err.api", status=exc.status, code=exc.code, message=exc.message)
        status = exc.status if exc.status in (400, 403, 404, 409, 413, 422) else 502
        return render(request, "error.html", status, message=message, session=session)

    @app.get("/", include_in_schema=False)
    async def home() -> RedirectResponse:
        return RedirectResponse("/devices", status_code=303)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
