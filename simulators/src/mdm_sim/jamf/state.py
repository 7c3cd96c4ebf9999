"""What the Jamf simulator knows: devices, issued tokens, injected faults, scheduled events, stats.

Kept apart from the HTTP layer so tests can read and change it directly. The server runs in its own
thread (uvicorn) while tests run in theirs, so every read and write of shared state takes `lock`.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Literal

from ..badinput import BadInputs
from ..readonly import RequestLedger
from . import rsql

DeviceKind = Literal["computer", "mobile"]
ALL_VERSIONS = ("v1", "v2", "v3", "v4")
# Credential endpoints: POSTs that change no device (R-M6 counts them apart from writes).
TOKEN_PATHS = frozenset(
    {"/api/oauth/token", "/api/v1/oauth/token", "/api/v1/auth/token", "/api/v1/auth/keep-alive"}
    | {"/api/v1/auth/invalidate-token"}
)
ID_FIELD: dict[DeviceKind, str] = {"computer": "id", "mobile": "mobileDeviceId"}

# Section enum -> JSON key. Sections not requested come back as null, as on a real server.
COMPUTER_SECTIONS = {
    "GENERAL": "general",
    "DISK_ENCRYPTION": "diskEncryption",
    "PURCHASING": "purchasing",
    "APPLICATIONS": "applications",
    "STORAGE": "storage",
    "USER_AND_LOCATION": "userAndLocation",
    "CONFIGURATION_PROFILES": "configurationProfiles",
    "PRINTERS": "printers",
    "SERVICES": "services",
    "HARDWARE": "hardware",
    "LOCAL_USER_ACCOUNTS": "localUserAccounts",
    "CERTIFICATES": "certificates",
    "ATTACHMENTS": "attachments",
    "PACKAGE_RECEIPTS": "packageReceipts",
    "SECURITY": "security",
    "OPERATING_SYSTEM": "operatingSystem",
    "LICENSED_SOFTWARE": "licensedSoftware",
    "IBEACONS": "ibeacons",
    "SOFTWARE_UPDATES": "softwareUpdates",
    "EXTENSION_ATTRIBUTES": "extensionAttributes",
    "CONTENT_CACHING": "contentCaching",
    "GROUP_MEMBERSHIPS": "groupMemberships",
}
MOBILE_SECTIONS = {
    "GENERAL": "general",
    "HARDWARE": "hardware",
    "USER_AND_LOCATION": "userAndLocation",
    "PURCHASING": "purchasing",
    "SECURITY": "security",
    "APPLICATIONS": "applications",
    "EBOOKS": "ebooks",
    "NETWORK": "network",
    "SERVICE_SUBSCRIPTIONS": "serviceSubscriptions",
    "CERTIFICATES": "certificates",
    "PROFILES": "profiles",
    "USER_PROFILES": "userProfiles",
    "PROVISIONING_PROFILES": "provisioningProfiles",
    "SHARED_USERS": "sharedUsers",
    "GROUPS": "groups",
    "EXTENSION_ATTRIBUTES": "extensionAttributes",
}
SECTIONS: dict[DeviceKind, dict[str, str]] = {"computer": COMPUTER_SECTIONS, "mobile": MOBILE_SECTIONS}
# Sort fields: computers use section paths, mobiles flat names (as the real API does).
COMPUTER_SORT = {
    "id": ("id",),
    "udid": ("udid",),
    "general.name": ("general", "name"),
    "general.assetTag": ("general", "assetTag"),
    "general.reportDate": ("general", "reportDate"),
    "general.lastContactTime": ("general", "lastContactTime"),
    "hardware.serialNumber": ("hardware", "serialNumber"),
}
MOBILE_SORT = {
    "mobileDeviceId": ("mobileDeviceId",),
    "displayName": ("general", "displayName"),
    "udid": ("general", "udid"),
    "assetTag": ("general", "assetTag"),
    "serialNumber": ("hardware", "serialNumber"),
    "lastInventoryUpdateDate": ("general", "lastInventoryUpdateDate"),
}
SORT_FIELDS: dict[DeviceKind, dict[str, tuple[str, ...]]] = {"computer": COMPUTER_SORT, "mobile": MOBILE_SORT}
# RSQL filter fields (a subset of the real lists): computers by section path, mobiles flat.
FILTER_FIELDS: dict[DeviceKind, dict[str, tuple[str, ...]]] = {
    "computer": {
        **COMPUTER_SORT,
        "general.managementId": ("general", "managementId"),
        "operatingSystem.version": ("operatingSystem", "version"),
        "userAndLocation.username": ("userAndLocation", "username"),
        "userAndLocation.email": ("userAndLocation", "email"),
    },
    "mobile": {
        **MOBILE_SORT,
        "managed": ("general", "managed"),
        "supervised": ("general", "supervised"),
        "username": ("userAndLocation", "username"),
        "emailAddress": ("userAndLocation", "emailAddress"),
        "modelIdentifier": ("hardware", "modelIdentifier"),
    },
}

QUOTA_VIOLATION_BODY = {
    "fault": {
        "faultstring": "Rate limit quota violation. Quota limit  exceeded. Identifier : _default",
        "detail": {"errorcode": "policies.ratelimit.QuotaViolation"},
    }
}


class BadRequest(ValueError):
    """A request the real server would answer with 400."""


@dataclass
class SimConfig:
    client_id: str = "jamf-sim-client"
    client_secret: str = "jamf-sim-secret"  # a simulator's well-known test value
    username: str = "jamf-sim-user"
    password: str = "jamf-sim-password"
    oauth_token_lifetime_s: int = 300  # short on purpose: clients must re-mint (real: per API client)
    basic_token_lifetime_s: float = 1800.0  # Jamf's user tokens last 30 minutes
    computer_versions: tuple[str, ...] = ALL_VERSIONS  # the others answer 404
    max_page_size: int = 2000  # larger requests are clamped silently, as Jamf does
    page_delay_s: float = 0.0  # added latency per inventory page, to make concurrency observable

    def update(self, changes: dict[str, Any]) -> None:
        known = {f.name for f in fields(self)}
        for key, value in changes.items():
            if key not in known:
                raise BadRequest(f"unknown config key {key!r}")
            setattr(self, key, tuple(value) if key == "computer_versions" else value)


@dataclass
class Fault:
    """Answer the next `count` matching requests with `status` (and a QuotaViolation body if asked)."""

    status: int = 503
    count: int = 1
    quota_violation: bool = False
    retry_after: float | None = None
    path: str = ""  # substring of the request path; "" matches every inventory/token request


@dataclass
class Scheduled:
    """Something that happens right after the `after_pages`-th inventory page has been served."""

    after_pages: int
    action: Literal["revoke_tokens", "remove", "add"]
    kind: DeviceKind = "computer"
    ids: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class Token:
    value: str
    flavour: Literal["oauth", "user"]
    expires_at: float  # time.time()


class JamfSim:
    def __init__(
        self,
        computers: list[dict[str, Any]] | None = None,
        mobiles: list[dict[str, Any]] | None = None,
        config: SimConfig | None = None,
    ) -> None:
        self.config = config or SimConfig()
        self.lock = threading.RLock()
        self.devices: dict[DeviceKind, dict[str, dict[str, Any]]] = {"computer": {}, "mobile": {}}
        self._ordered: dict[DeviceKind, list[dict[str, Any]] | None] = {"computer": None, "mobile": None}
        self.tokens: dict[str, Token] = {}
        self.issued: list[str] = []  # every token ever handed out, for tests that grep logs for them
        self.faults: list[Fault] = []
        self.scheduled: list[Scheduled] = []
        self.stats: Counter[str] = Counter()
        self.requests = RequestLedger(lambda path: path in TOKEN_PATHS)
        self.bad_inputs = BadInputs()  # mdm_sim.badinput switches
        self.in_flight = 0
        self.max_in_flight = 0
        for record in computers or []:
            self.put("computer", record)
        for record in mobiles or []:
            self.put("mobile", record)

    # --- devices ---------------------------------------------------------------------------------

    def put(self, kind: DeviceKind, record: dict[str, Any]) -> str:
        device_id = str(record.get(ID_FIELD[kind]) or "")
        if not device_id:
            raise BadRequest(f"a {kind} needs {ID_FIELD[kind]!r}")
        with self.lock:
            self.devices[kind][device_id] = record
            self._ordered[kind] = None
        return device_id

    def remove(self, kind: DeviceKind, device_id: str) -> bool:
        with self.lock:
            self._ordered[kind] = None
            return self.devices[kind].pop(str(device_id), None) is not None

    def patch(self, kind: DeviceKind, device_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Merge `changes` into a device, one level into each section (`{"general": {"name": …}}`)."""
        with self.lock:
            record = self.devices[kind][str(device_id)]
            for key, value in changes.items():
                if isinstance(value, dict) and isinstance(record.get(key), dict):
                    record[key] = {**record[key], **value}
                else:
                    record[key] = value
            self._ordered[kind] = None
            return record

    def next_id(self, kind: DeviceKind) -> str:
        with self.lock:
            ids = [int(i) for i in self.devices[kind] if i.isdigit()]
            return str(max(ids, default=0) + 1)

    def page(
        self,
        kind: DeviceKind,
        page: int,
        page_size: int,
        sort: str | None,
        sections: list[str],
        filter_expr: str | None = None,
    ) -> bytes:
        """One `{totalCount, results}` page as JSON bytes (no response models: this is the hot path)."""
        if page < 0:
            raise BadRequest("page must be >= 0")
        if page_size < 1:
            raise BadRequest("page-size must be >= 1")
        size = min(page_size, self.config.max_page_size)  # silent clamp, totalCount unchanged
        keys = _section_keys(kind, sections)
        try:
            keep = rsql.parse(filter_expr, FILTER_FIELDS[kind]) if filter_expr else None
        except rsql.FilterError as exc:
            raise BadRequest(str(exc)) from None
        with self.lock:
            ordered = self._sorted(kind, sort)
            if keep is not None:
                ordered = [r for r in ordered if keep(r)]
            chunk = ordered[page * size : (page + 1) * size]
            total = len(ordered)
        results = [_project(kind, r, keys) for r in chunk]
        return json.dumps({"totalCount": total, "results": results}, separators=(",", ":")).encode()

    def _sorted(self, kind: DeviceKind, sort: str | None) -> list[dict[str, Any]]:
        default = "id:asc" if kind == "computer" else "mobileDeviceId:asc"
        specs = _parse_sort(kind, sort or default)
        if specs == [(ID_FIELD[kind], False)]:
            cached = self._ordered[kind]
            if cached is None:
                cached = self._ordered[kind] = sorted(self.devices[kind].values(), key=_id_key(kind))
            return cached
        out = sorted(self.devices[kind].values(), key=_id_key(kind))  # stable tie-break on id
        for name, desc in reversed(specs):
            path = SORT_FIELDS[kind][name]
            if path[0] == ID_FIELD[kind]:
                out.sort(key=_id_key(kind), reverse=desc)
            else:
                out.sort(key=functools.partial(_sort_by, path), reverse=desc)
        return out

    # --- tokens ----------------------------------------------------------------------------------

    def issue_token(self, flavour: Literal["oauth", "user"]) -> Token:
        lifetime = (
            self.config.oauth_token_lifetime_s if flavour == "oauth" else self.config.basic_token_lifetime_s
        )
        token = Token(secrets.token_urlsafe(32), flavour, time.time() + lifetime)
        with self.lock:
            self.tokens[token.value] = token
            self.issued.append(token.value)
            self.stats[f"token.{flavour}"] += 1
        return token

    def valid_token(self, value: str | None) -> Token | None:
        with self.lock:
            token = self.tokens.get(value or "")
            if token is None or token.expires_at <= time.time():
                return None
            return token

    def invalidate(self, value: str) -> None:
        with self.lock:
            self.tokens.pop(value, None)

    def revoke_all_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    # --- faults, schedule, stats -----------------------------------------------------------------

    def take_fault(self, path: str) -> Fault | None:
        with self.lock:
            for fault in self.faults:
                if fault.count > 0 and fault.path in path:
                    fault.count -= 1
                    self.stats["faults"] += 1
                    self.faults = [f for f in self.faults if f.count > 0]
                    return fault
            return None

    def page_served(self) -> None:
        with self.lock:
            self.stats["pages"] += 1
            served = self.stats["pages"]
            due = [s for s in self.scheduled if s.after_pages <= served]
            self.scheduled = [s for s in self.scheduled if s.after_pages > served]
        for event in due:
            self._run(event)

    def _run(self, event: Scheduled) -> None:
        if event.action == "revoke_tokens":
            self.revoke_all_tokens()
        elif event.action == "remove":
            for device_id in event.ids:
                self.remove(event.kind, device_id)
        else:
            for record in event.records:
                self.put(event.kind, record)

    def snapshot_stats(self) -> dict[str, Any]:
        with self.lock:
            return {
                **self.stats,
                "max_in_flight": self.max_in_flight,
                "computers": len(self.devices["computer"]),
                "mobiles": len(self.devices["mobile"]),
                "tokens_live": sum(1 for t in self.tokens.values() if t.expires_at > time.time()),
            }

    def reset_stats(self) -> None:
        with self.lock:
            self.stats.clear()
            self.max_in_flight = self.in_flight


def _section_keys(kind: DeviceKind, sections: list[str]) -> set[str]:
    known = SECTIONS[kind]
    names = [s.strip().upper() for raw in sections for s in raw.split(",") if s.strip()] or ["GENERAL"]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise BadRequest(f"unknown section(s) {', '.join(unknown)}")
    return {known[n] for n in names}


def _project(kind: DeviceKind, record: dict[str, Any], keys: set[str]) -> dict[str, Any]:
    if kind == "computer":
        out = {"id": record["id"], "udid": record.get("udid")}
    else:
        out = {"mobileDeviceId": record["mobileDeviceId"], "deviceType": record.get("deviceType")}
    for key in SECTIONS[kind].values():
        out[key] = record.get(key) if key in keys else None
    return out


def _parse_sort(kind: DeviceKind, sort: str) -> list[tuple[str, bool]]:
    specs = []
    for part in sort.split(","):
        name, _, direction = part.strip().partition(":")
        direction = direction.lower() or "asc"
        if name not in SORT_FIELDS[kind] or direction not in ("asc", "desc"):
            raise BadRequest(f"invalid sort {part!r}")
        specs.append((name, direction == "desc"))
    return specs


def _id_key(kind: DeviceKind) -> Any:
    field_name = ID_FIELD[kind]

    def key(record: dict[str, Any]) -> tuple[int, str]:
        value = str(record.get(field_name))
        return (int(value), "") if value.isdigit() else (2**63, value)  # Jamf sorts ids as numbers

    return key


def _sort_by(path: tuple[str, ...], record: dict[str, Any]) -> tuple[bool, str]:
    return _sort_value(record, path)


def _sort_value(record: dict[str, Any], path: tuple[str, ...]) -> tuple[bool, str]:
    value: Any = record
    for part in path:
        value = value.get(part) if isinstance(value, dict) else None
    return (value is None, str(value) if value is not None else "")


def iso_z(epoch: float) -> str:
    return (
        datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(epoch * 1000) % 1000:03d}Z"
    )
