"""Error bodies in the shapes Graph and Entra ID use, so clients parse them as they would for real."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

from fastapi import Response


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def graph_error(status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Response:
    request_id = str(uuid.uuid4())
    body = {
        "error": {
            "code": code,
            "message": message,
            "innerError": {"date": _now(), "request-id": request_id, "client-request-id": request_id},
        }
    }
    return Response(
        json.dumps(body),
        status_code=status,
        media_type="application/json",
        headers={"request-id": request_id, "client-request-id": request_id, **(headers or {})},
    )


def aad_error(status: int, error: str, code: int, description: str, base_url: str) -> Response:
    """An OAuth 2.0 error as Entra ID sends it: `AADSTS<code>: …` plus trace and correlation ids."""
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    now = datetime.now(UTC)
    body = {
        "error": error,
        "error_description": (
            f"AADSTS{code}: {description} Trace ID: {trace_id} Correlation ID: {correlation_id} "
            f"Timestamp: {now:%Y-%m-%d %H:%M:%S}Z"
        ),
        "error_codes": [code],
        "timestamp": f"{now:%Y-%m-%d %H:%M:%S}Z",
        "trace_id": trace_id,
        "correlation_id": correlation_id,
        "error_uri": f"{base_url}/error?code={code}",
    }
    return Response(json.dumps(body), status_code=status, media_type="application/json")
