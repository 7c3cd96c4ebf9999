"""The API's documentation works offline (issue 13 item 8): `/docs`, `/redoc` and the rendered
AsyncAPI page load every asset from the app itself, never from a CDN (issue 8 item 3)."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ledger_api import asyncapi
from ledger_api.api import docs
from ledger_contracts import topics

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[3] / "docs"
ATTRS = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']""")
CSS_URLS = re.compile(r"url\(\s*[\"']?(https?:)?//", re.IGNORECASE)


def _app() -> FastAPI:
    app = FastAPI(title="Device ledger API")

    @app.get("/v1/things")
    async def things() -> list[str]:
        return []

    docs.install(app)
    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())  # in process: no socket, no lifespan
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as c:
        yield c


def _local_assets(page: str) -> list[str]:
    """Every src/href of the page; fails on any that leaves the app (http:, https:, //host)."""
    urls = ATTRS.findall(page)
    external = [u for u in urls if re.match(r"^(https?:)?//", u)]
    assert not external, f"page loads assets from outside the app: {external}"
    assert "https://" not in page and "http://" not in page, "an absolute URL is in the page"
    return urls


@pytest.mark.parametrize(
    ("page", "script"), [("/docs", "swagger-ui-bundle.js"), ("/redoc", "redoc.standalone.js")]
)
async def test_doc_pages_load_their_assets_from_the_app(
    client: httpx.AsyncClient, page: str, script: str
) -> None:
    r = await client.get(page)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    urls = _local_assets(r.text)
    assert f"{docs.ASSETS_PATH}/{script}" in urls
    for url in urls:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
        if url.endswith(".css"):
            assert not CSS_URLS.search(asset.text), "the stylesheet pulls something from outside"
    bundle = await client.get(f"{docs.ASSETS_PATH}/{script}")
    assert bundle.headers["content-type"].startswith("text/javascript")
    assert len(bundle.content) > 500_000  # the real bundle, not a stub


@pytest.mark.parametrize("page", ["/docs", "/redoc", "/asyncapi"])
async def test_doc_pages_forbid_loading_from_elsewhere(client: httpx.AsyncClient, page: str) -> None:
    csp = (await client.get(page)).headers["content-security-policy"]
    assert "default-src 'self'" in csp and "img-src 'self' data:" in csp
    assert "http" not in csp and "*" not in csp


async def test_swagger_ui_reads_the_apps_own_openapi_and_no_validator(client: httpx.AsyncClient) -> None:
    page = (await client.get("/docs")).text
    assert "url: '/openapi.json'" in page
    assert '"validatorUrl": null' in page  # Swagger UI would otherwise call validator.swagger.io
    spec = (await client.get("/openapi.json")).json()
    assert "/v1/things" in spec["paths"]
    assert not any(p.startswith(("/docs", "/asyncapi", "/redoc")) for p in spec["paths"])


async def test_unknown_asset_is_404_and_no_path_escapes(client: httpx.AsyncClient) -> None:
    for name in ("nope.js", "..%2Fcore.py", "..%2F..%2Ffastapi_offline%2Fcore.py"):
        assert (await client.get(f"{docs.ASSETS_PATH}/{name}")).status_code == 404, name


async def test_asyncapi_json_is_the_checked_in_document(client: httpx.AsyncClient) -> None:
    r = await client.get("/asyncapi.json")
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == asyncapi.document()
    assert r.text == (DOCS / "asyncapi.json").read_text(encoding="utf-8")


async def test_asyncapi_page_lists_every_channel_and_message_offline(client: httpx.AsyncClient) -> None:
    r = await client.get("/asyncapi")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    assert "<script" not in page
    for url in _local_assets(page):
        assert url.startswith("#") or url in ("asyncapi.json", "docs"), url
    doc = json.loads((await client.get("/asyncapi.json")).text)
    for topic in topics.ALL:
        assert f'id="channel-{topic}"' in page and f'id="channel-{topic}.dlq"' in page
    for name in doc["components"]["messages"]:
        assert f'id="message-{name}"' in page
    anchors = set(re.findall(r'id="([^"]+)"', page))
    for target in re.findall(r'href="#([^"]+)"', page):
        assert target in anchors, f"dangling link #{target}"
    for header in ("x-error", "x-original-topic", "x-original-partition", "x-original-offset", "x-consumer"):
        assert f"<code>{header}</code>" in page


def test_page_escapes_what_it_renders() -> None:
    doc = asyncapi.document()
    doc["info"]["title"] = "<script>alert(1)</script>"
    page = docs.render_asyncapi(doc)
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


async def test_the_ledger_api_serves_the_offline_pages() -> None:
    """The composition root installs them: FastAPI's CDN pages are gone from the real app."""
    from ledger_api.app import build_app
    from ledger_api.settings import Settings

    app = build_app(Settings(database_url="postgresql://unused@127.0.0.1:1/unused"))  # lifespan not run
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://ledger.test") as c:
        for page in ("/docs", "/redoc", "/asyncapi"):
            r = await c.get(page)
            assert r.status_code == 200, page
            _local_assets(r.text)
            assert "content-security-policy" in r.headers, page
        assert (await c.get("/asyncapi.json")).json()["asyncapi"] == "3.0.0"
        assert "/v1/devices" in (await c.get("/openapi.json")).json()["paths"]
