"""The I/O side of R-A1 and R-X2: try an integration's credentials against its MDM, and resolve the
hosts of MDM URLs before they are accepted.

`probe(kind, entry)` takes the decrypted integrations-file entry and does what a sync run does
first, once: Intune — an MSAL client-credentials token (an https authority, `instance_discovery`
off, the operator's CA bundle, no proxy from the environment), then one managedDevices item from
Graph; Jamf Pro — a token (API client or user), then one computers-inventory item. It reports
which step failed and why, as one of `FAILURES`, with a message that never holds a secret.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, Literal

import httpx
import structlog

from ..domain import urls

log = structlog.get_logger(__name__)

Failure = Literal["authentication", "consent_or_permission", "network", "tls", "mdm_error"]
FAILURES: tuple[Failure, ...] = ("authentication", "consent_or_permission", "network", "tls", "mdm_error")
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
GRAPH_LIST = "/v1.0/deviceManagement/managedDevices"
JAMF_VERSIONS = ("v4", "v3", "v2", "v1")
TIMEOUT_SECONDS = 15.0

# Entra ID answers (AADSTS codes) that mean "the app may sign in but is not allowed this".
_CONSENT_CODES = ("AADSTS65001", "AADSTS500011", "AADSTS7000112", "AADSTS90094", "AADSTS50105")


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    failure: Failure | None
    message: str
    step: str  # "token" | "devices" | "url"


class _Failed(Exception):
    def __init__(self, failure: Failure, message: str, step: str) -> None:
        super().__init__(message)
        self.failure, self.message, self.step = failure, message, step


# --- R-X2: the hosts of MDM URLs --------------------------------------------------------------


async def resolve(host: str) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    literal = urls.literal_address(host)
    if literal is not None:
        return [literal]
    loop = asyncio.get_running_loop()
    try:
        infos = await asyncio.wait_for(
            loop.getaddrinfo(host, 443, type=socket.SOCK_STREAM), timeout=TIMEOUT_SECONDS
        )
    except (OSError, TimeoutError):
        return []
    found = []
    for info in infos:
        address = urls.literal_address(str(info[4][0]))
        if address is not None:
            found.append(address)
    return found


async def url_problems(values: dict[str, str | None], *, allow_private: bool) -> list[tuple[str, str]]:
    """(field, why) for every MDM URL of `values` that is refused (R-X2)."""
    problems = []
    for field in urls.URL_FIELDS:
        url = values.get(field)
        if url is None:
            continue
        problem = urls.url_problem(url)
        if problem is None and not allow_private:
            host = urls.host_of(url)
            problem = urls.resolved_problem(host, await resolve(host))
            if problem is not None:
                problem += " (LEDGER_API_ALLOW_PRIVATE_MDM_HOSTS is off)"
        if problem is not None:
            problems.append((field, problem))
    return problems


# --- R-A1: try the credentials ------------------------------------------------------------------


async def probe(kind: str, entry: dict[str, Any], *, allow_private: bool) -> ProbeResult:
    secrets = [str(entry[k]) for k in ("client_secret", "password") if entry.get(k)]
    started = time.monotonic()
    try:
        values = dict(entry)
        if kind == "intune":
            values.setdefault(
                "authority_url", f"https://login.microsoftonline.com/{entry['azure_tenant_id']}"
            )
        refused = await url_problems(values, allow_private=allow_private)
        if refused:
            field, why = refused[0]
            raise _Failed("network", f"{field} {why}", "url")
        if kind == "intune":
            step = await asyncio.to_thread(_intune, values)
        else:
            step = await _jamf(values)
        result = ProbeResult(True, None, step, "devices")
    except _Failed as exc:
        result = ProbeResult(False, exc.failure, _redact(exc.message, secrets), exc.step)
    log.info(
        "integration.tested",
        kind=kind,
        ok=result.ok,
        failure=result.failure,
        step=result.step,
        seconds=round(time.monotonic() - started, 3),
    )
    return result


def _redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "***")
    return text[:1000]


def _intune(entry: dict[str, Any]) -> str:
    """Blocking (MSAL uses requests): run in a worker thread."""
    import msal
    import requests

    session = requests.Session()
    session.trust_env = False  # no proxy or CA from the environment: the operator's settings only
    session.verify = str(entry["ca_bundle"]) if entry.get("ca_bundle") else True
    # MSAL ignores its own `timeout` when given an http_client: bound every request here.
    session.request = functools.partial(session.request, timeout=TIMEOUT_SECONDS)  # type: ignore[method-assign]
    authority = str(entry["authority_url"])
    try:
        try:
            app = msal.ConfidentialClientApplication(
                str(entry["client_id"]),
                authority=authority,
                client_credential=str(entry["client_secret"]),
                http_client=session,
                # a sovereign cloud or a simulator: never ask login.microsoftonline.com
                instance_discovery=False,
            )
            result = app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        except requests.exceptions.SSLError as exc:
            raise _Failed(
                "tls", f"TLS with the authority {authority} failed: {_reason(exc)}", "token"
            ) from None
        except requests.exceptions.RequestException as exc:
            raise _Failed(
                "network", f"the authority {authority} is unreachable: {_reason(exc)}", "token"
            ) from None
        except ValueError as exc:  # MSAL: the authority's discovery document was refused or unusable
            text = str(exc)
            failure: Failure = (
                "authentication" if "AADSTS90002" in text or "tenant" in text.lower() else "mdm_error"
            )
            raise _Failed(
                failure, f"the authority {authority} refused the tenant: {text[:300]}", "token"
            ) from None
        if "access_token" not in result:
            description = str(result.get("error_description", "")).split(" Trace ID:")[0]
            error = str(result.get("error", "error"))
            if description.startswith(_CONSENT_CODES) or error == "invalid_scope":
                failure = "consent_or_permission"
            elif error in ("invalid_client", "unauthorized_client", "invalid_tenant", "invalid_request"):
                failure = "authentication"
            else:
                failure = "mdm_error"
            raise _Failed(failure, f"Entra ID refused the token: {error}: {description}", "token")
        graph = str(entry.get("graph_base_url") or "https://graph.microsoft.com").rstrip("/")
        url = f"{graph}{GRAPH_LIST}"
        try:
            resp = session.get(
                url,
                params={"$top": "1", "$select": "id"},
                headers={"Authorization": f"Bearer {result['access_token']}"},
                timeout=TIMEOUT_SECONDS,
            )
        except requests.exceptions.SSLError as exc:
            raise _Failed("tls", f"TLS with Graph {graph} failed: {_reason(exc)}", "devices") from None
        except requests.exceptions.RequestException as exc:
            raise _Failed("network", f"Graph {graph} is unreachable: {_reason(exc)}", "devices") from None
        _check_status(resp.status_code, _graph_message(resp), "Graph managedDevices")
        return "token issued and Graph managedDevices answered"
    finally:
        session.close()


def _graph_message(resp: Any) -> str:
    try:
        error = resp.json().get("error", {})
        return f"{error.get('code', '')}: {error.get('message', '')}"[:300]
    except ValueError:
        return str(resp.text)[:200]


def _check_status(status: int, detail: str, what: str, step: str = "devices") -> None:
    if status < 300:
        return
    if status == 401:
        raise _Failed("authentication", f"{what} answered 401 (the token was refused): {detail}", step)
    if status == 403:
        raise _Failed(
            "consent_or_permission",
            f"{what} answered 403: the app or account lacks the read permission (admin consent, "
            f"API role or privileges): {detail}",
            step,
        )
    raise _Failed("mdm_error", f"{what} answered {status}: {detail}", step)


def _reason(exc: BaseException) -> str:
    """The innermost cause's text (requests/urllib3 wrap the SSL or socket error several times)."""
    seen = exc
    while seen.__cause__ is not None or seen.__context__ is not None:
        nxt = seen.__cause__ or seen.__context__
        assert nxt is not None
        seen = nxt
    for candidate in (seen, exc):
        text = str(candidate)
        if text:
            return f"{type(candidate).__name__}: {text}"[:300]
    return type(exc).__name__


def _is_tls(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


async def _jamf(entry: dict[str, Any]) -> str:
    base = str(entry["base_url"]).rstrip("/")
    verify: ssl.SSLContext | bool = True
    if entry.get("ca_bundle"):
        try:
            verify = ssl.create_default_context(cafile=str(entry["ca_bundle"]))
        except (OSError, ssl.SSLError) as exc:
            raise _Failed("tls", f"the CA bundle cannot be read: {_reason(exc)}", "token") from None
    async with httpx.AsyncClient(
        base_url=base, verify=verify, trust_env=False, timeout=TIMEOUT_SECONDS
    ) as client:
        step = "token"
        try:
            if entry.get("client_id"):
                resp = await client.post(
                    "/api/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": str(entry["client_id"]),
                        "client_secret": str(entry["client_secret"]),
                    },
                )
                token_key = "access_token"
            else:
                resp = await client.post(
                    "/api/v1/auth/token", auth=(str(entry["username"]), str(entry["password"]))
                )
                token_key = "token"
            if resp.status_code in (400, 401):
                raise _Failed(
                    "authentication", f"Jamf Pro refused the credentials ({resp.status_code})", "token"
                )
            _check_status(resp.status_code, resp.text[:200], "Jamf Pro's token endpoint", "token")
            token = resp.json().get(token_key)
            if not token:
                raise _Failed("mdm_error", "Jamf Pro's token answer holds no token", "token")
            step = "devices"
            headers = {"Authorization": f"Bearer {token}"}
            for version in JAMF_VERSIONS:
                page = await client.get(
                    f"/api/{version}/computers-inventory",
                    params={"page": 0, "page-size": 1, "section": "GENERAL"},
                    headers=headers,
                )
                if page.status_code != 404:
                    _check_status(
                        page.status_code, page.text[:200], f"Jamf Pro computers-inventory ({version})"
                    )
                    return f"token issued and computers-inventory ({version}) answered"
            raise _Failed(
                "mdm_error", "no computers-inventory endpoint answered (v4 to v1 gave 404)", "devices"
            )
        except httpx.TransportError as exc:
            if _is_tls(exc):
                raise _Failed("tls", f"TLS with {base} failed: {_reason(exc)}", step) from None
            raise _Failed("network", f"{base} is unreachable: {_reason(exc)}", step) from None
        except ValueError as exc:  # a token answer that is not JSON
            raise _Failed("mdm_error", f"Jamf Pro answered something unreadable: {exc}"[:300], step) from None
