"""The API's documentation in a real browser with no way out to the internet (issue 13 item 8):
Debian's chromium, driven by Playwright, opens the ledger API's `/docs` (Swagger UI), `/redoc` and
`/asyncapi`; every request that is not to the API itself is refused and recorded, and the pages
must still show the API's operations and the topics. Skipped, with the reason, without chromium.

The API runs in this process under uvicorn with its lifespan off: the doc pages and `/openapi.json`
need no database or broker, so none is started.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from devstack.infra import free_port
from ledger_api.app import build_app
from ledger_api.settings import Settings
from ledger_contracts import topics

pytestmark = pytest.mark.integration  # a local HTTP server and a browser, no other service

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM} "
        "(apt-get install -y chromium fonts-ipafont-gothic)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")
TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def api_url() -> Iterator[str]:
    settings = Settings(database_url="postgresql://unused@127.0.0.1:1/unused")  # lifespan off: never used
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(build_app(settings), host="127.0.0.1", port=port, lifespan="off", log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the API did not start")
        time.sleep(0.05)  # polling the server's own started flag, not waiting on silence
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def offline_page(browser: Any, api_url: str) -> Iterator[tuple[Any, list[str]]]:
    """A page that can reach the API and nothing else; `refused` lists what it tried elsewhere,
    and the script errors of the page (the doc pages' Content-Security-Policy blocks ReDoc's
    sidebar logo on cdn.redoc.ly before any request: that one is expected and only that one)."""
    context = browser.new_context()
    refused: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith(api_url + "/") or r.request.url.startswith("data:"):
            r.continue_()
        else:
            refused.append(r.request.url)
            r.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))
    page.on(
        "console",
        lambda msg: (
            errors.append(msg.text)
            if msg.type == "error" and "cdn.redoc.ly/redoc/logo-mini.svg" not in msg.text
            else None
        ),
    )
    page.set_default_timeout(TIMEOUT_MS)
    yield page, refused
    context.close()
    assert errors == [], f"the page logged errors: {errors}"


def test_swagger_ui_lists_the_operations_offline(offline_page: tuple[Any, list[str]], api_url: str) -> None:
    page, refused = offline_page
    page.goto(f"{api_url}/docs")
    page.locator(".opblock").first.wait_for()
    summaries = page.locator(".opblock-summary-path").all_inner_texts()
    assert "/v1/devices" in summaries, summaries[:20]
    assert any(s.startswith("/v1/master-links") for s in summaries), summaries[:20]
    assert page.locator(".opblock").count() >= 20
    page.locator(".opblock-summary-path", has_text="/v1/devices").first.click()  # opens: the JS works
    page.locator(".opblock-body").first.wait_for()
    assert refused == [], f"/docs tried to reach outside the API: {refused}"


def test_redoc_renders_offline(offline_page: tuple[Any, list[str]], api_url: str) -> None:
    page, refused = offline_page
    page.goto(f"{api_url}/redoc")
    page.locator("[data-role='redoc-summary'], .api-content").first.wait_for()
    page.get_by_text("/v1/devices", exact=False).first.wait_for()
    assert refused == [], f"/redoc tried to reach outside the API: {refused}"


def test_asyncapi_page_lists_the_topics_offline(offline_page: tuple[Any, list[str]], api_url: str) -> None:
    page, refused = offline_page
    page.goto(f"{api_url}/asyncapi")
    for topic in topics.ALL:
        assert page.locator(f"[id='channel-{topic}'] h3").inner_text() == topic
        assert page.locator(f"[id='channel-{topics.dlq(topic)}'] h3").inner_text() == topics.dlq(topic)
    page.locator("a[href='#schema-LedgerDeviceChanged']").first.click()
    assert page.url.endswith("#schema-LedgerDeviceChanged")
    assert refused == [], f"/asyncapi tried to reach outside the API: {refused}"
