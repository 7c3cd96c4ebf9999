"""The simulated Entra ID token service and Graph `managedDevices` list, as one FastAPI app.

Responses are built with `json.dumps` into plain `Response`s (no pydantic response models): a page
of 1000 devices must serialise in milliseconds, and unchanged pages are served from a cache.
"""

from __future__ import annotations

import base64
import json
import re
from collections import Counter
from typing import Any
from urllib.parse import parse_qs, quote, unquote

from fastapi import FastAPI, Request, Response

from .. import badinput
from ..badinput import BadInput, BadInputs
from ..readonly import RequestLedger
from .config import GRAPH_SCOPES, GraphSimConfig
from .errors import aad_error, graph_error
from .faults import GRAPH_ERROR_CODES, Fault, FaultInjector
from .generate import generate_devices
from .store import DeviceStore, Key, load_devices_file
from .tokens import TokenIssuer

LIST_PATH = "/v1.0/deviceManagement/managedDevices"
_SKIPTOKEN = re.compile(r"LastDeviceName='((?:[^']|'')*)',LastDeviceId='((?:[^']|'')*)'\Z")


class GraphSim:
    """Everything one simulated tenant holds; `app.state.sim` in the app."""

    def __init__(self, config: GraphSimConfig) -> None:
        self.config = config
        self.store = DeviceStore(initial_devices(config), cache_bytes=config.page_cache_bytes)
        self.store.page(None, 1)  # sort the keyset now, not during the first client's first request
        self.faults = FaultInjector([Fault(**f) for f in config.faults])
        self.tokens = TokenIssuer(config.tenant_id, config.client_id, config.token_lifetime_s)
        self.stats: Counter[str] = Counter()
        self.bad_inputs = BadInputs()
        self.requests = RequestLedger(lambda path: path.endswith("/oauth2/v2.0/token"))


def initial_devices(config: GraphSimConfig) -> list[dict[str, Any]]:
    base = config.base_devices_file()
    devices = load_devices_file(base) if base else generate_devices(config.devices, config.seed)
    for path in config.extra_device_files:
        devices.extend(load_devices_file(path))
    if config.shared_macs:
        from ..shared import graph_devices

        devices.extend(graph_devices(config.shared_macs, config.shared_seed))
    return devices


def encode_skiptoken(key: Key) -> str:
    name, dev_id = (s.replace("'", "''") for s in key)
    return f"LastDeviceName='{name}',LastDeviceId='{dev_id}'"


def decode_skiptoken(token: str) -> Key | None:
    m = _SKIPTOKEN.match(token)
    return (m.group(1).replace("''", "'"), m.group(2).replace("''", "'")) if m else None


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _fault_response(fault: Fault) -> Response:
    code, message = GRAPH_ERROR_CODES.get(fault.status, ("UnknownError", "An error occurred."))
    headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else None
    return graph_error(fault.status, code, message, headers)


def build_graph_app(config: GraphSimConfig | None = None) -> FastAPI:
    """A fresh simulated tenant. Control endpoints live under `/_sim` (see control.py)."""
    from .control import router as control_router

    sim = GraphSim(config or GraphSimConfig())
    app = FastAPI(title="Microsoft Graph + Entra ID simulator (Intune managedDevices)", docs_url="/_sim/docs")
    app.state.sim = sim
    app.include_router(control_router)

    @app.middleware("http")
    async def count_requests(request: Request, call_next: Any) -> Response:
        sim.requests.record(request.method, request.url.path)  # R-M6: writes are counted
        response: Response = await call_next(request)
        return response

    @app.get("/{tenant}/v2.0/.well-known/openid-configuration")
    async def openid_configuration(tenant: str, request: Request) -> Response:
        base = _base_url(request)
        if tenant != sim.config.tenant_id:
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.", base)
        t = f"{base}/{tenant}"
        body = {
            "token_endpoint": f"{t}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ],
            "jwks_uri": f"{t}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{t}/v2.0",
            "request_uri_parameter_supported": False,
            "userinfo_endpoint": f"{base}/oidc/userinfo",
            "authorization_endpoint": f"{t}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{t}/oauth2/v2.0/devicecode",
            "http_logout_supported": True,
            "frontchannel_logout_supported": True,
            "end_session_endpoint": f"{t}/oauth2/v2.0/logout",
            "claims_supported": [
                "sub",
                "iss",
                "aud",
                "exp",
                "iat",
                "auth_time",
                "nonce",
                "tid",
                "ver",
                "oid",
            ],
            "tenant_region_scope": "EU",
            "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net",
            "msgraph_host": "graph.microsoft.com",
        }
        return Response(json.dumps(body), media_type="application/json")

    @app.get("/{tenant}/discovery/v2.0/keys")
    async def keys(tenant: str) -> Response:
        return Response('{"keys":[]}', media_type="application/json")

    @app.post("/{tenant}/oauth2/v2.0/token")
    async def token(tenant: str, request: Request) -> Response:
        base = _base_url(request)
        sim.stats["token_requests"] += 1
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode(), keep_blank_values=True).items()}
        client_id, secret = form.get("client_id"), form.get("client_secret")
        auth = request.headers.get("authorization", "")
        if auth.startswith("Basic "):  # client_secret_basic: both url-encoded, then base64 (RFC 6749 §2.3.1)
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
            client_id, secret = unquote(user.replace("+", " ")), unquote(password.replace("+", " "))
        if tenant != sim.config.tenant_id:
            return aad_error(400, "invalid_tenant", 90002, f"Tenant '{tenant}' not found.", base)
        if form.get("grant_type") != "client_credentials":
            return aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type.", base
            )
        if client_id != sim.config.client_id:
            msg = f"Application with identifier '{client_id}' was not found in the directory '{tenant}'."
            return aad_error(400, "unauthorized_client", 700016, msg, base)
        if not secret:
            msg = "'client_assertion' or 'client_secret' is required for the 'client_credentials' grant type."
            return aad_error(400, "invalid_client", 7000216, msg, base)
        if secret != sim.config.client_secret:
            sim.stats["token_rejected"] += 1
            msg = (
                "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                f"secret value, not the client secret ID, for a secret added to app '{client_id}'."
            )
            return aad_error(401, "invalid_client", 7000215, msg, base)
        scopes = set(form.get("scope", "").split())
        if not scopes or not scopes <= GRAPH_SCOPES:
            msg = (
                f"The provided value for scope {form.get('scope', '')} is not valid. Client credential flows "
                "must have a scope value with /.default suffixed to the resource identifier."
            )
            return aad_error(400, "invalid_scope", 1002012, msg, base)
        fault = sim.faults.check("token", sim.stats["token_requests"])
        if fault is not None:
            return _fault_response(fault)
        expires_in = sim.config.reported_expires_in or int(sim.config.token_lifetime_s)
        sim.tokens.lifetime_s = sim.config.token_lifetime_s
        body = {
            "token_type": "Bearer",
            "expires_in": expires_in,
            "ext_expires_in": expires_in,
            "access_token": sim.tokens.issue(),
        }
        sim.stats["tokens_issued"] += 1
        return Response(
            json.dumps(body), media_type="application/json", headers={"Cache-Control": "no-store"}
        )

    @app.get(LIST_PATH)
    async def managed_devices(request: Request) -> Response:
        sim.stats["device_requests"] += 1
        request_no = sim.stats["device_requests"]
        problem = sim.tokens.check(request.headers.get("authorization"))
        if problem is not None:
            sim.stats["unauthorized"] += 1
            challenge = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
            return graph_error(401, "InvalidAuthenticationToken", problem, {"WWW-Authenticate": challenge})
        q = request.query_params
        try:
            top = int(q.get("$top", sim.config.max_page_size))
        except ValueError:
            return graph_error(400, "BadRequest", f"Invalid value '{q.get('$top')}' for $top.")
        if top < 1:
            return graph_error(400, "BadRequest", "The value of $top must be a positive integer.")
        top = min(top, sim.config.max_page_size)  # Graph caps the page size instead of failing
        select = tuple(s.strip() for s in q["$select"].split(",") if s.strip()) if "$select" in q else None
        for prop in select or ():
            if prop not in sim.store.known_properties:
                msg = f"Could not find a property named '{prop}' on type 'microsoft.graph.managedDevice'."
                return graph_error(400, "BadRequest", msg)
        after = None
        if "$skiptoken" in q:
            after = decode_skiptoken(q["$skiptoken"])
            if after is None:
                return graph_error(400, "BadRequest", "Token not found: token is either invalid or expired")
        start, devices, last_key = sim.store.page(after, top)
        fault = sim.faults.check("devices", request_no, start // top + 1)
        if fault is not None:
            sim.stats[f"fault_{fault.status}"] += 1
            return _fault_response(fault)
        base = _base_url(request)
        switches = sim.bad_inputs.take(start // top + 1, last_key is None) if sim.bad_inputs.items else []
        if switches:
            return _bad_page(sim, str(request.url), base, select, top, devices, last_key, switches)
        cache_key = (base, select, top, start, sim.config.count_skew)
        body = sim.store.cached(cache_key)
        if body is None:
            body = _page_body(sim, base, select, top, devices, last_key)
            sim.store.remember(cache_key, body)
        sim.stats["pages_served"] += 1
        sim.stats["devices_served"] += len(devices)
        return Response(body, media_type="application/json")

    return app


def _bad_page(
    sim: GraphSim,
    url: str,
    base: str,
    select: tuple[str, ...] | None,
    top: int,
    devices: list[dict[str, Any]],
    last_key: Key | None,
    switches: list[BadInput],
) -> Response:
    """A page broken as the bad-input switches say (see mdm_sim.badinput)."""
    sim.stats["bad_input_pages"] += 1
    for b in switches:
        if b.mode == "unauthorized_mid_pull":
            challenge = 'Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize"'
            message = "Access token validation failure. Invalid audience."
            return graph_error(401, "InvalidAuthenticationToken", message, {"WWW-Authenticate": challenge})
        if b.mode == "error_on_last_page":
            return graph_error(500, "InternalServerError", "An internal server error occurred.")
    body = _page_dict(sim, base, select, top, devices, last_key)
    value: list[Any] = [dict(d) for d in body["value"]]
    body["value"] = value
    for b in switches:
        if b.mode == "nextlink_loop":
            body["@odata.nextLink"] = url
        elif b.mode == "lying_total":
            body["@odata.count"] += b.delta
        elif not value:
            continue
        elif b.mode == "duplicate_id":
            value[0]["id"] = sim.store.page(None, top)[1][0]["id"]
        elif b.mode == "huge_string":
            value[0][b.field or "model"] = "x" * badinput.HUGE
        elif b.mode == "invalid_utf8":
            value[0][b.field or "deviceName"] = badinput.INVALID_UTF8_MARK
        elif b.mode == "wrong_types":
            value[0].update(
                serialNumber=12345, totalStorageSpaceInBytes="a lot", enrolledDateTime=[2024], deviceName=7
            )
        elif b.mode == "null_object":
            value[0] = None
    return Response(badinput.encode(body, switches), media_type="application/json")


def _page_body(
    sim: GraphSim,
    base: str,
    select: tuple[str, ...] | None,
    top: int,
    devices: list[dict[str, Any]],
    last_key: Key | None,
) -> bytes:
    return json.dumps(_page_dict(sim, base, select, top, devices, last_key), separators=(",", ":")).encode()


def _page_dict(
    sim: GraphSim,
    base: str,
    select: tuple[str, ...] | None,
    top: int,
    devices: list[dict[str, Any]],
    last_key: Key | None,
) -> dict[str, Any]:
    context = f"{base}/v1.0/$metadata#deviceManagement/managedDevices"
    if select:
        context += f"({','.join(select)})"
        devices = [{k: d.get(k) for k in select} for d in devices]
    body: dict[str, Any] = {"@odata.context": context, "@odata.count": len(sim.store) + sim.config.count_skew}
    if last_key is not None:
        params = [f"$select={quote(','.join(select), safe=',')}"] if select else []
        params += [f"$top={top}", f"$skiptoken={quote(encode_skiptoken(last_key), safe='')}"]
        body["@odata.nextLink"] = f"{base}{LIST_PATH}?{'&'.join(params)}"
    body["value"] = devices
    return body
