"""R-X3: request bodies have size limits, answered with 413 and a message naming the limit."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI, Request

from ledger_api.body_limits import BodyLimitMiddleware

pytestmark = [pytest.mark.unit, pytest.mark.rule("R-X3")]


def small_app() -> FastAPI:
    app = FastAPI()

    @app.post("/v1/things")
    async def things(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    @app.post("/v1/devices/import.csv")
    async def import_csv(request: Request) -> dict[str, int]:
        return {"size": len(await request.body())}

    app.add_middleware(BodyLimitMiddleware, default_limit=1024, import_limit=4096)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=small_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
        yield c


async def test_a_body_within_the_limit_passes(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/things", content=b"x" * 1024)
    assert resp.status_code == 200 and resp.json() == {"size": 1024}


async def test_a_declared_length_over_the_limit_is_413_naming_it(client: httpx.AsyncClient) -> None:
    resp = await client.post("/v1/things", content=b"x" * 1025)
    assert resp.status_code == 413
    error = resp.json()["error"]
    assert error["code"] == "too_large" and error["details"] == {"limit": 1024}
    assert "1024 bytes" in error["message"]


async def test_a_chunked_body_is_counted_as_it_streams(client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(5):
            yield b"y" * 512

    resp = await client.post("/v1/things", content=chunks())  # no Content-Length: chunked
    assert resp.status_code == 413 and resp.json()["error"]["details"] == {"limit": 1024}


async def test_csv_imports_have_their_own_limit(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/devices/import.csv", content=b"z" * 4096)).status_code == 200
    assert (await client.post("/v1/devices/import.csv", content=b"z" * 4097)).status_code == 413
