"""What the pages show, as pure functions of the API's answers (no I/O): columns, filters, dates in
the tenant's zone, the history timeline in words (R-M11), integration states (R-S2, R-A1)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .i18n import Translator

# --- the ledger table (R-S1) -------------------------------------------------------------------

# Columns the API's `fields` parameter accepts, in the order the table shows them.
COLUMNS: tuple[str, ...] = (
    "asset_number",
    "serial_number",
    "os",
    "manufacturer",
    "model",
    "assigned_user",
    "status",
    "missing_from_mdm",
    "last_seen_at",
    "updated_at",
    "source",
)
DEFAULT_COLUMNS: tuple[str, ...] = (
    "asset_number",
    "serial_number",
    "os",
    "model",
    "assigned_user",
    "source",
)
SORTS: tuple[str, ...] = (
    "asset_number",
    "serial_number",
    "os",
    "manufacturer",
    "model",
    "assigned_user",
    "status",
    "source",
    "updated_at",
    "last_seen_at",
)
SOURCES: tuple[str, ...] = ("intune", "jamf_pro", "manual")
PAGE_SIZES: tuple[int, ...] = (25, 50, 100, 200)
# How many earlier cursors a page link carries for "Previous" (keeps URLs short).
TRAIL_MAX = 20


def parse_columns(raw: str | None) -> list[str]:
    """A comma list from the query or the cookie; unknown names dropped; the default when empty."""
    if not raw:
        return list(DEFAULT_COLUMNS)
    chosen = {c.strip() for c in raw.split(",")}
    cols = [c for c in COLUMNS if c in chosen]
    return cols or list(DEFAULT_COLUMNS)


@dataclass(frozen=True)
class DeviceFilters:
    source: str = ""
    os: str = ""
    q: str = ""
    missing: bool = False
    sort: str = "asset_number"
    limit: int = 50

    @classmethod
    def parse(cls, query: Mapping[str, str]) -> DeviceFilters:
        source = query.get("source", "")
        sort = query.get("sort", "asset_number")
        if sort.lstrip("-") not in SORTS:
            sort = "asset_number"
        try:
            limit = int(query.get("limit", "50"))
        except ValueError:
            limit = 50
        return cls(
            source=source if source in SOURCES else "",
            os=query.get("os", "").strip()[:100],
            q=query.get("q", "").strip()[:200],
            missing=query.get("missing") in ("1", "true", "on"),
            sort=sort,
            limit=limit if limit in PAGE_SIZES else 50,
        )

    def api_params(self, columns: Sequence[str], cursor: str | None) -> dict[str, str]:
        """The query of `GET /v1/devices` for one page: never more than `limit` rows."""
        fields = ["device_id", *columns]
        if "source" not in fields:
            fields.append("source")  # the row's badge
        params = {"sort": self.sort, "limit": str(self.limit), "fields": ",".join(fields)}
        if self.source:
            params["source"] = self.source
        if self.os:
            params["os"] = self.os
        if self.q:
            params["q"] = self.q
        if self.missing:
            params["missing_from_mdm"] = "true"
        if cursor:
            params["cursor"] = cursor
        return params

    def query(self, **extra: str) -> dict[str, str]:
        """The console's own query string for these filters (links keep them)."""
        out = {"sort": self.sort, "limit": str(self.limit)}
        if self.source:
            out["source"] = self.source
        if self.os:
            out["os"] = self.os
        if self.q:
            out["q"] = self.q
        if self.missing:
            out["missing"] = "1"
        out.update({k: v for k, v in extra.items() if v})
        return out

    def with_sort(self, column: str) -> str:
        """The sort a click on a column header asks for: ascending, then descending."""
        return f"-{column}" if self.sort == column else column


@dataclass(frozen=True)
class PageLinks:
    next_query: str | None
    prev_query: str | None
    first_query: str | None


def page_links(
    filters: DeviceFilters, trail: list[str], cursor: str | None, next_cursor: str | None
) -> PageLinks:
    """Cursor paging both ways without loading anything else: a link carries the cursors of the
    pages before it (`trail`, at most TRAIL_MAX; "" stands for the first page)."""
    nxt = None
    if next_cursor:
        nxt = urlencode(
            filters.query(cursor=next_cursor, trail=" ".join([*trail, cursor or ""][-TRAIL_MAX:]))
        )
    prev = first = None
    if cursor:
        back = trail[-1] if trail else ""
        prev = urlencode(filters.query(cursor=back, trail=" ".join(trail[:-1])))
        first = urlencode(filters.query())
    return PageLinks(next_query=nxt, prev_query=prev, first_query=first)


def parse_trail(raw: str | None) -> list[str]:
    if not raw:
        return []
    return raw.split(" ")[-TRAIL_MAX:]


# --- values -----------------------------------------------------------------------------------


def zone(name: str | None) -> ZoneInfo:
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def parse_dt(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def format_dt(value: Any, tz: str | None, *, seconds: bool = False) -> str:
    """An API timestamp (UTC ISO 8601) in the tenant's zone, `YYYY-MM-DD HH:MM`."""
    dt = parse_dt(value)
    if dt is None:
        return "" if value in (None, "") else str(value)
    if dt.tzinfo is None:
        return dt.strftime("%Y-%m-%d %H:%M")
    local = dt.astimezone(zone(tz))
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def format_time(value: Any, tz: str | None) -> str:
    dt = parse_dt(value)
    if dt is None or dt.tzinfo is None:
        return ""
    return dt.astimezone(zone(tz)).strftime("%H:%M")


def cell(value: Any, column: str, tz: str | None, t: Translator) -> str:
    if value is None or value == "":
        return ""
    if column == "source":
        return source_label(str(value), t)
    if column == "missing_from_mdm":
        return t("common.yes") if value else ""
    if column.endswith("_at"):
        return format_dt(value, tz)
    return str(value)


def source_label(source: str, t: Translator) -> str:
    key = f"source.{source}"
    return t(key) if t.has(key) else source


def kind_label(kind: str | None) -> str:
    return {"intune": "Microsoft Intune", "jamf_pro": "Jamf Pro"}.get(kind or "", kind or "MDM")


# --- integrations (R-S2, R-A1) -----------------------------------------------------------------


@dataclass(frozen=True)
class IntegrationState:
    key: str  # connected | master_linked | error | the API's word
    label: str
    reason: str | None
    last_ok: str | None


def integration_state(integration: Mapping[str, Any], tz: str | None, t: Translator) -> IntegrationState:
    """The seed's 連携済 / マスタ連携中, or an error with its reason and when it last worked (R-A1).
    The API's `error` is `{kind, message, at}`; older shapes (a string, `last_error`) are read too."""
    state = str(integration.get("state") or "connected")
    reason = None
    for name in ("error", "last_error", "state_reason"):
        value = integration.get(name)
        if isinstance(value, Mapping):
            kind, message = value.get("kind"), value.get("message") or value.get("reason")
            kind_text = t(f"int.failure.{kind}") if kind and t.has(f"int.failure.{kind}") else kind
            value = " — ".join(str(v) for v in (kind_text, message) if v)
        if value:
            reason = str(value)
            break
    last_ok = None
    for name in ("last_succeeded_at", "last_success_at", "last_ok_at"):
        if integration.get(name):
            last_ok = format_dt(integration[name], tz)
            break
    key = f"int.state.{state}"
    label = t(key) if t.has(key) else state
    return IntegrationState(key=state, label=label, reason=reason, last_ok=last_ok)


# --- the history timeline in words (R-M11) -----------------------------------------------------

_INTUNE_RULES = {
    "serial_number": "R-I1",
    "os": "R-I2",
    "manufacturer": "R-I3",
    "model": "R-I4",
    "asset_number": "R-I5",
    "assigned_user": "R-I6",
}


def rule_id(field_name: str, rule: str, mdm_kind: str | None, actor: str) -> str | None:
    """The SPEC rule that explains one field change."""
    if rule == "binding":
        return "R-M4"
    if rule == "unlink" or actor == "unlink":
        return "R-S4"
    if rule == "csv" or actor == "csv":
        return "R-C2"
    if rule == "manual":
        return None
    if rule == "mdm_only":
        return "R-I8" if mdm_kind == "intune" else "R-J1" if mdm_kind == "jamf_pro" else None
    if mdm_kind == "jamf_pro":
        return "R-J3" if field_name == "asset_number" else "R-J1"
    if mdm_kind == "intune":
        return _INTUNE_RULES.get(field_name)
    return None


@dataclass
class TimelineLine:
    text: str
    field: str
    before: str
    after: str
    rule_id: str | None


@dataclass
class TimelineEntry:
    when: str
    change: str
    headline: str
    lines: list[TimelineLine] = field(default_factory=list)
    version: int | None = None


def _value(value: Any, t: Translator, tz: str | None) -> str:
    if value is None or value == "":
        return t("hist.empty")
    if isinstance(value, str) and parse_dt(value) is not None and "T" in value:
        return format_dt(value, tz)
    return str(value)


def _field_label(name: str, t: Translator) -> str:
    for prefix in ("field.", "mdm."):
        if t.has(prefix + name):
            return t(prefix + name)
    if name.startswith("mdm.") and t.has(name):
        return t(name)
    if name.startswith("custom_fields."):
        return name.split(".", 1)[1]
    return name


def explain(
    entry: Mapping[str, Any],
    integrations: Mapping[str, Mapping[str, Any]],
    tz: str | None,
    t: Translator,
    *,
    fallback_kind: str | None = None,
) -> TimelineEntry:
    """One history entry as sentences: "Updated by the Intune sync of 06:00" and, per field,
    "Assigned user: a → b — MDM-first for the assigned user (R-I6)"."""
    prov = entry.get("provenance") or {}
    actor = str(prov.get("actor") or "")
    integration = integrations.get(str(prov.get("integration_id") or ""), {})
    kind = integration.get("kind") or fallback_kind
    mdm = integration.get("display_name") if integration.get("display_name") not in (None, "", "-") else None
    mdm_name = f"{kind_label(kind)} ({mdm})" if mdm else kind_label(kind)
    occurred = entry.get("occurred_at")
    if actor == "sync":
        by = t("hist.by_sync", mdm=mdm_name, time=format_time(occurred, tz))
    elif actor == "manual":
        by = t("hist.by_manual")
    elif actor == "csv":
        by = t("hist.by_csv")
    elif actor == "unlink":
        by = t("hist.by_unlink", mdm=mdm_name)
    else:
        by = t("hist.by_other", actor=actor or "?")
    change = str(entry.get("change") or "updated")
    what = t(f"hist.{change}") if t.has(f"hist.{change}") else change
    out = TimelineEntry(
        when=format_dt(occurred, tz),
        change=change,
        headline=t("hist.headline", what=what, by=by),
        version=entry.get("version"),
    )
    changed = entry.get("changes") or ()
    if entry.get("previous_source") and not any(ch.get("field") == "source" for ch in changed):
        after = "manual" if actor == "unlink" else (kind or "")
        out.lines.append(
            TimelineLine(
                text=t(
                    "hist.source_from",
                    before=source_label(str(entry["previous_source"]), t),
                    after=source_label(after, t) if after else "?",
                ),
                field="source",
                before=str(entry["previous_source"]),
                after=after,
                rule_id="R-S4" if actor == "unlink" else "R-M2" if actor == "sync" else None,
            )
        )
    for ch in changed:
        name = str(ch.get("field"))
        rule = str(ch.get("rule") or "")
        label = _field_label(name, t)
        rule_text = t(f"hist.rule.{rule}") if t.has(f"hist.rule.{rule}") else rule
        if rule in ("mdm_first", "ledger_first"):
            field_words = label.lower() if t.lang == "en" and not label.isupper() else label
            rule_text = t("hist.rule_for", rule=rule_text, field=field_words)
        rid = rule_id(name, rule, kind, actor)
        if rid:
            rule_text = f"{rule_text}, {rid}"
        before, after = _value(ch.get("before"), t, tz), _value(ch.get("after"), t, tz)
        if name == "source":
            before, after = (source_label(v, t) if v != t("hist.empty") else v for v in (before, after))
        out.lines.append(
            TimelineLine(
                text=t("hist.field_line", field=label, before=before, after=after, rule=rule_text),
                field=name,
                before=before,
                after=after,
                rule_id=rid,
            )
        )
    return out


def index_by(items: Iterable[Mapping[str, Any]], key: str) -> dict[str, Mapping[str, Any]]:
    return {str(i.get(key)): i for i in items}


def progress(run: Mapping[str, Any]) -> int | None:
    """Percent of the MDM's reported total seen so far, when the MDM said how many it has."""
    total = run.get("reported_total")
    seen = (run.get("counts") or {}).get("seen") or 0
    if run.get("status") == "completed":
        return 100
    if not total:
        return None
    return max(0, min(100, int(seen * 100 / total)))


def is_finished(run: Mapping[str, Any]) -> bool:
    return run.get("status") in ("completed", "failed", "refused")
