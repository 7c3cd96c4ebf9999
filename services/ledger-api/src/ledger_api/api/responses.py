"""JSON rendering and the one error shape: `{"error": {"code", "message", "details"}}`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import ApiError

log = structlog.get_logger(__name__)


def _default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


class LedgerJSONResponse(JSONResponse):
    """JSON with UUIDs as strings and timestamps as UTC ISO 8601 ('Z'), like the contracts."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, default=_default, ensure_ascii=False, separators=(",", ":")).encode()


def error_response(
    status: int, code: str, message: str, details: Any = None, headers: dict[str, str] | None = None
) -> LedgerJSONResponse:
    return LedgerJSONResponse(
        {"error": {"code": code, "message": message, "details": details}}, status_code=status, headers=headers
    )


_HTTP_CODES = {401: "unauthorized", 404: "not_found", 405: "method_not_allowed", 413: "too_large"}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> LedgerJSONResponse:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        return error_response(exc.status, exc.code, exc.message, exc.details, headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> LedgerJSONResponse:
        details = []
        in_body = False
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            where = loc[0] if loc else "body"
            in_body = in_body or where == "body"
            field = ".".join(loc[1:]) or where
            details.append(
                {"location": where, "field": field, "message": err.get("msg"), "type": err.get("type")}
            )
        names = ", ".join(dict.fromkeys(d["field"] for d in details))
        if in_body:
            return error_response(422, "invalid_body", f"invalid request body: {names}", details)
        return error_response(400, "invalid_parameter", f"invalid parameter(s): {names}", details)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> LedgerJSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        return error_response(exc.status_code, code, str(exc.detail), None, getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> LedgerJSONResponse:
        log.exception("http.unhandled_error", path=request.url.path)
        return error_response(500, "internal_error", "internal error", None)
