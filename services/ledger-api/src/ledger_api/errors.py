"""Errors the API reports, as plain exceptions (the HTTP layer renders them as
`{"error": {"code", "message", "details"}}`)."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, details: Any = None, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class InvalidParameter(ApiError):
    status = 400
    code = "invalid_parameter"

    def __init__(self, parameter: str, message: str, **details: Any) -> None:
        super().__init__(
            f"invalid parameter {parameter!r}: {message}",
            [{"location": "query", "field": parameter, "message": message, **details}],
        )
        self.parameter = parameter


class Unauthorized(ApiError):
    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """The token is valid but its scopes do not allow this request (R-A3)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    status = 404
    code = "not_found"


class Conflict(ApiError):
    status = 409
    code = "conflict"


class Unavailable(ApiError):
    status = 503
    code = "unavailable"


class Unprocessable(ApiError):
    status = 422
    code = "invalid_body"
