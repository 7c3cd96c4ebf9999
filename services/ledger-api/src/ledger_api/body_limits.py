"""R-X3: every request body has a size limit, answered with 413 and a message that says which.

A pure ASGI middleware: a declared `Content-Length` over the limit is refused before anything is
read; a chunked body is counted as it streams and refused as soon as it passes the limit. CSV
imports (`…/import.csv`) have their own, larger limit (`LEDGER_API_IMPORT_MAX_BYTES`).
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .api.responses import error_response


class BodyTooLarge(Exception):
    pass


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, default_limit: int, import_limit: int) -> None:
        self.app = app
        self.default_limit = default_limit
        self.import_limit = import_limit

    def limit_for(self, path: str) -> int:
        return self.import_limit if path.endswith(".csv") else self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.limit_for(scope["path"])
        for name, value in scope["headers"]:
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _refuse(scope, receive, send, limit)
                    return
        received = 0
        started = False

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counting_receive, tracking_send)
        except BodyTooLarge:
            if not started:
                await _refuse(scope, receive, send, limit)


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    """The API's one error shape (`api.responses.error_response`), sent before the app runs."""
    response = error_response(
        413,
        "too_large",
        f"the request body is larger than this endpoint accepts ({limit} bytes)",
        {"limit": limit},
    )
    await response(scope, receive, send)
