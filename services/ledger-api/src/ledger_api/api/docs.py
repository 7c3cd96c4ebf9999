"""API and topic documentation that works offline (issue 13 item 8, issue 8 item 3).

* `/docs` (Swagger UI) and `/redoc` load their script and style from this app: the assets come from
  the installed `fastapi-offline` package, never from a CDN, so the pages work without internet.
* `/asyncapi.json` is the AsyncAPI 3.0 document of every topic (`ledger_api.asyncapi`), and
  `/asyncapi` renders it server-side as one self-contained HTML page (no script, no external asset).

`install(app)` replaces FastAPI's CDN-based doc pages with these. The pages are public, like
`/openapi.json`: they describe the API, never a tenant's data.
"""

from __future__ import annotations

import functools
import html
import json
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from .. import asyncapi

ASSETS_PATH = "/docs-assets"
ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "redoc.standalone.js": "text/javascript",
    "favicon.png": "image/png",
}

# The doc pages may load nothing from outside the app, by construction: ReDoc's sidebar credit
# would fetch its logo from cdn.redoc.ly (the image hides itself when it cannot load).
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "script-src 'self' 'unsafe-inline'; worker-src 'self' blob:; connect-src 'self'; "
    "font-src 'self' data:; frame-ancestors 'self'"
)

router = APIRouter(include_in_schema=False)


def _self_contained(response: HTMLResponse) -> HTMLResponse:
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response


def install(app: FastAPI) -> None:
    """Serve offline `/docs`, `/redoc`, `/asyncapi.json` and `/asyncapi` on `app` (replacing
    FastAPI's default doc pages, which load Swagger UI and ReDoc from a CDN)."""
    replaced = {"/docs", "/docs/oauth2-redirect", "/redoc"}
    for path in (app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url):
        if path:
            replaced.add(path)
    app.router.routes[:] = [r for r in app.router.routes if not _is_doc_route(r, replaced)]
    app.include_router(router)


def _is_doc_route(route: BaseRoute, paths: set[str]) -> bool:
    return isinstance(route, Route) and route.path in paths


def _root(request: Request) -> str:
    return str(request.scope.get("root_path") or "")


@router.get(ASSETS_PATH + "/{name}")
async def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status_code=404, detail=f"no documentation asset named {name!r}")
    return FileResponse(
        ASSETS_DIR / name, media_type=ASSETS[name], headers={"Cache-Control": "public, max-age=86400"}
    )


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    app = request.app
    root = _root(request)
    page = get_swagger_ui_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - Swagger UI",
        oauth2_redirect_url=f"{root}/docs/oauth2-redirect",
        swagger_js_url=f"{root}{ASSETS_PATH}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS_PATH}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        # validatorUrl: null — Swagger UI would otherwise ask validator.swagger.io about the spec.
        swagger_ui_parameters={**(app.swagger_ui_parameters or {}), "validatorUrl": None},
    )
    return _self_contained(page)


@router.get("/docs/oauth2-redirect")
async def swagger_ui_redirect() -> HTMLResponse:
    return get_swagger_ui_oauth2_redirect_html()


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    app = request.app
    root = _root(request)
    page = get_redoc_html(
        openapi_url=f"{root}{app.openapi_url}",
        title=f"{app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS_PATH}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS_PATH}/favicon.png",
        with_google_fonts=False,
    )
    return _self_contained(page)


@functools.cache
def _document_json() -> str:
    return asyncapi.dumps(asyncapi.document())


@functools.cache
def _document_html() -> str:
    return render_asyncapi(asyncapi.document())


@router.get("/asyncapi.json")
async def asyncapi_json() -> Response:
    return Response(_document_json(), media_type="application/json")


@router.get("/asyncapi")
async def asyncapi_page() -> HTMLResponse:
    return _self_contained(HTMLResponse(_document_html()))


# --- the rendered AsyncAPI page ------------------------------------------------------------------

_CSS = """
body{font:15px/1.5 system-ui,sans-serif;margin:0 auto;max-width:70rem;padding:1rem 2rem;color:#1d2330}
h1{margin-bottom:.2rem} h2{border-bottom:2px solid #d8dee9;padding-bottom:.2rem;margin-top:2.5rem}
h3{margin-bottom:.3rem} code{background:#f1f3f7;padding:0 .25rem;border-radius:3px}
table{border-collapse:collapse;width:100%;margin:.4rem 0 1rem} th,td{border:1px solid #d8dee9;
padding:.25rem .5rem;text-align:left;vertical-align:top} th{background:#f5f7fa}
.channel{border:1px solid #d8dee9;border-radius:6px;padding:.5rem 1rem;margin:1rem 0}
.dlq{background:#fffaf2} .muted{color:#5b6577} nav a{margin-right:1rem} .req{color:#b3261e}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _code(value: Any) -> str:
    return f"<code>{_e(value)}</code>"


def _inline(text: str) -> str:
    """Escape, then render the two inline marks the descriptions use: `code` and **bold**."""
    out, parts = [], _e(text).split("`")
    for i, part in enumerate(parts):
        if i % 2:
            out.append(f"<code>{part}</code>")
        else:
            bold = part.split("**")
            out.append("".join(f"<strong>{b}</strong>" if j % 2 else b for j, b in enumerate(bold)))
    return "".join(out)


def _paragraphs(text: str) -> str:
    """The document's markdown descriptions: paragraphs and `* ` bullet lists."""
    blocks: list[str] = []
    items: list[str] = []
    para: list[str] = []

    def flush() -> None:
        if para:
            blocks.append(f"<p>{_inline(' '.join(para))}</p>")
            para.clear()

    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("* "):
            flush()
            items.append(stripped[2:])
        elif stripped and items and line.startswith("  "):
            items[-1] += " " + stripped
        elif stripped:
            para.append(stripped)
        else:
            flush()
    flush()
    if items:
        blocks.append("<ul>" + "".join(f"<li>{_inline(i)}</li>" for i in items) + "</ul>")
    return "".join(blocks)


def _type(schema: dict[str, Any]) -> str:
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        return f'<a href="#schema-{_e(name)}">{_e(name)}</a>'
    if "const" in schema:
        return _code(repr(schema["const"]).replace("'", '"'))
    if "enum" in schema:
        return " | ".join(_code(v) for v in schema["enum"])
    for combo in ("anyOf", "oneOf"):
        if combo in schema:
            return " | ".join(_type(s) for s in schema[combo])
    kind = schema.get("type")
    if kind == "array":
        return f"array of {_type(schema.get('items', {}))}"
    if kind is None:
        return "any"
    fmt = schema.get("format")
    return _e(f"{kind} ({fmt})" if fmt else kind)


def _properties(schema: dict[str, Any]) -> str:
    props = schema.get("properties") or {}
    if not props:
        return ""
    required = set(schema.get("required", []))
    rows = []
    for name, prop in props.items():
        facts = []
        if "default" in prop and name not in required:
            facts.append(f"default {_code(json.dumps(prop['default']))}")
        for bound in ("minLength", "maxLength", "minimum", "maximum", "maxItems", "pattern"):
            if bound in prop:
                facts.append(f"{bound} {_code(prop[bound])}")
        notes = [_inline(prop["description"])] if prop.get("description") else []
        if facts:
            notes.append(f'<span class="muted">{", ".join(facts)}</span>')
        mark = ' <span class="req" title="required">*</span>' if name in required else ""
        rows.append(f"<tr><td>{_code(name)}{mark}</td><td>{_type(prop)}</td><td>{' '.join(notes)}</td></tr>")
    return "<table><tr><th>Field</th><th>Type</th><th>Notes</th></tr>" + "".join(rows) + "</table>"


def _message(doc: dict[str, Any], msg: dict[str, Any]) -> str:
    parts = [f'<h4 id="message-{_e(msg["name"])}">{_e(msg["name"])}</h4>']
    parts.append(_paragraphs(msg.get("description") or msg.get("summary", "")))
    key = msg.get("bindings", {}).get("kafka", {}).get("key")
    if key:
        parts.append(f"<p><strong>Key</strong>: {_type(key)} — {_inline(key.get('description', ''))}</p>")
    if "headers" in msg:
        parts.append("<p><strong>Headers</strong></p>" + _properties(msg["headers"]))
    payload = msg["payload"]
    if "$ref" in payload:
        parts.append(f"<p><strong>Payload</strong>: {_type(payload)} ({_e(msg.get('contentType', ''))})</p>")
        parts.append(_properties(asyncapi.resolve(doc, payload["$ref"])))
    else:
        original = payload.get("x-original-schema")
        parts.append(
            f"<p><strong>Payload</strong>: {_type(payload)} — {_inline(payload.get('description', ''))}"
            + (f" Intended schema: {_type(original)}." if original else "")
            + "</p>"
        )
    return "".join(parts)


def render_asyncapi(doc: dict[str, Any]) -> str:
    """The AsyncAPI document as one HTML page: channels, their messages and every schema."""
    info = doc["info"]
    body = [f"<h1>{_e(info['title'])}</h1>"]
    body.append(
        f'<p class="muted">AsyncAPI {_e(doc["asyncapi"])} · version {_e(info["version"])} · '
        '<a href="asyncapi.json">asyncapi.json</a> · <a href="docs">HTTP API (Swagger UI)</a></p>'
    )
    body.append(
        "<nav>" + "".join(f'<a href="#channel-{_e(a)}">{_e(a)}</a>' for a in doc["channels"]) + "</nav>"
    )
    body.append(_paragraphs(info.get("description", "")))
    for server_name, server in doc.get("servers", {}).items():
        body.append(
            f"<p><strong>Server</strong> {_code(server_name)}: {_e(server.get('protocol', ''))} "
            f"{_code(server.get('host', ''))} — {_inline(server.get('description', ''))}</p>"
        )
    body.append("<h2>Channels</h2>")
    for name, channel in doc["channels"].items():
        dlq = name.endswith(".dlq")
        op = doc.get("operations", {}).get(name, {})
        body.append(f'<section class="channel{" dlq" if dlq else ""}" id="channel-{_e(name)}">')
        body.append(f"<h3>{_code(channel['address'])}</h3>{_paragraphs(channel.get('description', ''))}")
        if op.get("description"):
            body.append(f'<p class="muted">{_inline(op["description"])}</p>')
        for ref in channel["messages"].values():
            body.append(_message(doc, asyncapi.resolve(doc, ref["$ref"])))
        body.append("</section>")
    body.append("<h2>Schemas</h2>")
    for name, schema in doc.get("components", {}).get("schemas", {}).items():
        body.append(f'<section id="schema-{_e(name)}"><h3>{_e(name)}</h3>')
        if schema.get("description"):
            body.append(_paragraphs(schema["description"]))
        if "oneOf" in schema:
            body.append(f"<p>One of: {_type(schema)} (by <code>type</code>)</p>")
        body.append(_properties(schema) + "</section>")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(info['title'])} — AsyncAPI</title><style>{_CSS}</style></head>"
        f"<body>{''.join(body)}</body></html>"
    )
