"""The console's pure parts: language choice, columns and filters, cursor paging links, dates in
the tenant's zone, the history in words (R-M11), integration states (R-S2, R-A1), link settings,
conflict comparison, sessions and CSRF, scope detection (issue 13)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest

from ledger_console import views
from ledger_console.api import Api, Capabilities, _scopes_of, detect_scope
from ledger_console.i18n import MESSAGES, Translator, negotiate
from ledger_console.routes_admin import connection_test_outcome, link_settings, settings_change
from ledger_console.routes_runs import compare_rows
from ledger_console.sessions import SessionStore

pytestmark = pytest.mark.unit
EN, JA = Translator("en"), Translator("ja")


# --- language -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("explicit", "header", "expected"),
    [
        (None, "ja,en-US;q=0.8", "ja"),
        (None, "ja-JP", "ja"),
        (None, "fr-FR,en;q=0.5,ja;q=0.4", "en"),
        (None, "fr, de", "en"),
        (None, "en;q=0.2, ja;q=0.9", "ja"),
        (None, "ja;q=0, en;q=0.1", "en"),
        (None, None, "en"),
        ("ja", "en", "ja"),
        ("xx", "ja", "ja"),
    ],
)
def test_language_from_choice_then_browser(explicit: str | None, header: str | None, expected: str) -> None:
    assert negotiate(explicit, header) == expected


def test_both_languages_have_every_message_and_the_seed_terms() -> None:
    assert MESSAGES["ja"].keys() == MESSAGES["en"].keys()
    for term in ("ソース", "表示項目", "フィルタ", "連携済", "マスタ連携", "実行する", "解除する"):
        assert any(term in v for v in MESSAGES["ja"].values()), term
    assert JA("ml.keep") == "すべての同期済みデバイスを保持する"
    assert JA("ml.delete") == "同期済みデバイスを削除する"
    assert JA("ml.done") == "マスタ連携が完了しました"
    assert JA("source.manual") == "手動"


# --- the ledger table (R-S1, issue 13: 100,000 devices) -----------------------------------------


def test_columns_are_chosen_from_the_known_ones_in_table_order() -> None:
    assert views.parse_columns(None) == list(views.DEFAULT_COLUMNS)
    assert views.parse_columns("source,asset_number,evil") == ["asset_number", "source"]
    assert views.parse_columns("evil") == list(views.DEFAULT_COLUMNS)


@pytest.mark.rule("R-S1")
def test_filters_become_one_bounded_page_of_the_api() -> None:
    f = views.DeviceFilters.parse(
        {
            "source": "jamf_pro",
            "os": " iOS ",
            "q": "mac",
            "missing": "1",
            "sort": "-updated_at",
            "limit": "100",
        }
    )
    params = f.api_params(["asset_number"], "CUR")
    assert params == {
        "sort": "-updated_at",
        "limit": "100",
        "fields": "device_id,asset_number,source",
        "source": "jamf_pro",
        "os": "iOS",
        "q": "mac",
        "missing_from_mdm": "true",
        "cursor": "CUR",
    }
    wild = views.DeviceFilters.parse({"source": "evil", "sort": "password", "limit": "100000"})
    assert (wild.source, wild.sort, wild.limit) == ("", "asset_number", 50)
    assert wild.api_params([], None)["limit"] == "50"


def test_sort_header_toggles_direction() -> None:
    f = views.DeviceFilters(sort="model")
    assert f.with_sort("model") == "-model" and f.with_sort("os") == "os"


def test_cursor_paging_walks_forward_and_back_without_counting() -> None:
    f = views.DeviceFilters()
    first = views.page_links(f, [], None, "c1")
    assert first.prev_query is None and first.first_query is None
    q2 = parse_qs(first.next_query or "")
    assert q2["cursor"] == ["c1"] and "trail" not in q2
    second = views.page_links(f, views.parse_trail(None), "c1", "c2")
    q3 = parse_qs(second.next_query or "")
    assert q3["cursor"] == ["c2"] and views.parse_trail(q3["trail"][0]) == ["c1"]
    assert "cursor" not in parse_qs(second.prev_query or "")  # back to the first page
    third = views.page_links(f, ["c1"], "c2", None)
    assert third.next_query is None
    assert parse_qs(third.prev_query or "")["cursor"] == ["c1"]
    long = views.page_links(f, [f"c{i}" for i in range(50)], "cx", "cy")
    assert len(views.parse_trail(parse_qs(long.next_query or "")["trail"][0])) == views.TRAIL_MAX


# --- values in the tenant's zone ------------------------------------------------------------------


def test_dates_are_shown_in_the_tenant_zone() -> None:
    assert views.format_dt("2026-11-28T21:00:00Z", "Asia/Tokyo") == "2026-11-29 06:00"
    assert views.format_dt("2026-11-28T21:00:00+00:00", "America/New_York") == "2026-11-28 16:00"
    assert views.format_dt("2026-11-28T21:00:00Z", "Not/AZone") == "2026-11-28 21:00"
    assert views.format_dt(None, "UTC") == ""
    assert views.format_time("2026-11-28T21:00:00Z", "Asia/Tokyo") == "06:00"


def test_cells_and_source_labels() -> None:
    assert views.cell("intune", "source", "UTC", JA) == "Intune"
    assert views.cell("manual", "source", "UTC", JA) == "手動"
    assert views.cell("jamf_pro", "source", "UTC", EN) == "Jamf Pro"
    assert views.cell(True, "missing_from_mdm", "UTC", EN) == "yes"
    assert views.cell("2026-01-01T00:00:00Z", "updated_at", "Asia/Tokyo", EN) == "2026-01-01 09:00"


# --- history in words (R-M11) ---------------------------------------------------------------------

INTEGRATIONS = {"int-1": {"integration_id": "int-1", "kind": "intune", "display_name": "HQ"}}


def entry(**overrides: Any) -> dict[str, Any]:
    base = {
        "version": 3,
        "change": "updated",
        "changes": [{"field": "assigned_user", "before": "a@x", "after": "b@x", "rule": "mdm_first"}],
        "provenance": {"actor": "sync", "integration_id": "int-1", "sync_run_id": "r", "command_id": None},
        "previous_source": None,
        "occurred_at": "2026-11-28T21:00:00Z",
    }
    return base | overrides


@pytest.mark.rule("R-M11", "R-I6")
def test_a_sync_change_says_which_sync_which_rule_and_which_spec_rule() -> None:
    e = views.explain(entry(), INTEGRATIONS, "Asia/Tokyo", EN)
    assert e.headline == "Updated by the Microsoft Intune (HQ) sync of 06:00"
    assert e.lines[0].text == "Assigned user: a@x → b@x — MDM-first for the assigned user, R-I6"
    assert e.when == "2026-11-29 06:00"
    ja = views.explain(entry(), INTEGRATIONS, "Asia/Tokyo", JA)
    assert ja.headline == "更新: Microsoft Intune (HQ) の 06:00 の同期"
    assert "利用者: a@x → b@x — 利用者はMDM 優先, R-I6" == ja.lines[0].text


@pytest.mark.parametrize(
    ("field", "rule", "kind", "actor", "expected"),
    [
        ("serial_number", "ledger_first", "intune", "sync", "R-I1"),
        ("os", "mdm_first", "intune", "sync", "R-I2"),
        ("asset_number", "ledger_first", "intune", "sync", "R-I5"),
        ("device_name", "mdm_only", "intune", "sync", "R-I8"),
        ("os", "mdm_first", "jamf_pro", "sync", "R-J1"),
        ("asset_number", "ledger_first", "jamf_pro", "sync", "R-J3"),
        ("binding", "binding", "intune", "sync", "R-M4"),
        ("source", "unlink", "intune", "unlink", "R-S4"),
        ("model", "csv", None, "csv", "R-C2"),
        ("model", "manual", None, "manual", None),
    ],
)
def test_rule_ids(field: str, rule: str, kind: str | None, actor: str, expected: str | None) -> None:
    assert views.rule_id(field, rule, kind, actor) == expected


@pytest.mark.rule("R-M11")
def test_unlink_csv_and_manual_changes_are_named() -> None:
    unlink = views.explain(
        entry(
            change="source_changed",
            previous_source="intune",
            changes=[],
            provenance={"actor": "unlink", "integration_id": "int-1"},
        ),
        INTEGRATIONS,
        "UTC",
        EN,
    )
    assert unlink.headline == "Source changed by the unlink of Microsoft Intune (HQ)"
    assert unlink.lines[0].text == "Source: Intune → Manual" and unlink.lines[0].rule_id == "R-S4"
    csv = views.explain(
        entry(
            change="created",
            changes=[{"field": "model", "before": None, "after": "X1", "rule": "csv"}],
            provenance={"actor": "csv"},
        ),
        {},
        "UTC",
        EN,
    )
    assert csv.headline == "Created by a CSV import"
    assert csv.lines[0].text == "Model: (empty) → X1 — changed by CSV, R-C2"
    gone = views.explain(
        entry(provenance={"actor": "sync", "integration_id": "int-gone"}),
        {},
        "UTC",
        EN,
        fallback_kind="jamf_pro",
    )
    assert gone.headline.startswith("Updated by the Jamf Pro sync of 21:00")


# --- integrations, runs ---------------------------------------------------------------------------


@pytest.mark.rule("R-S2", "R-A1")
def test_integration_states_use_the_seed_words_and_explain_errors() -> None:
    assert views.integration_state({"state": "connected"}, "UTC", JA).label == "連携済"
    assert views.integration_state({"state": "master_linked"}, "UTC", JA).label == "マスタ連携中"
    err = views.integration_state(
        {
            "state": "error",
            "last_error": {"message": "invalid_client"},
            "last_success_at": "2026-11-28T21:00:00Z",
        },
        "Asia/Tokyo",
        EN,
    )
    assert (err.label, err.reason, err.last_ok) == ("Error", "invalid_client", "2026-11-29 06:00")


def test_progress() -> None:
    assert views.progress({"status": "running", "reported_total": 200, "counts": {"seen": 50}}) == 25
    assert views.progress({"status": "running", "reported_total": None, "counts": {"seen": 50}}) is None
    assert views.progress({"status": "completed", "counts": {}}) == 100
    assert views.is_finished({"status": "refused"}) and not views.is_finished({"status": "running"})


@pytest.mark.parametrize(
    ("status", "body", "ok"),
    [
        (200, {"ok": True}, True),
        (200, {"ok": False, "failure": "authentication", "message": "AADSTS7000215"}, False),
        (200, {"status": "failed", "reason": "tls"}, False),
        (200, {"status": "succeeded"}, True),
        (422, {"error": {"code": "test_failed", "message": "network"}}, False),
    ],
)
def test_connection_test_answers(status: int, body: dict[str, Any], ok: bool) -> None:
    assert connection_test_outcome(status, body)[0] is ok


def test_connection_test_reason_is_readable() -> None:
    assert (
        connection_test_outcome(200, {"ok": False, "failure": "authentication", "message": "bad"})[1]
        == "authentication — bad"
    )


# --- master link settings (R-M1, R-I5, R-M7, R-A2) ----------------------------------------------


@pytest.mark.rule("R-M1", "R-I5", "R-M7", "R-M15")
def test_link_settings_are_checked_before_the_api() -> None:
    body, errors = link_settings(
        {
            "integration_id": "int-1",
            "mdm_key": "device_name",
            "ledger_key": "asset_number",
            "asset_number_source": "device_name",
            "local_time": "07:30",
            "time_zone": "Asia/Tokyo",
        },
        "UTC",
    )
    assert errors == []
    assert body == {
        "integration_id": "int-1",
        "matching_key": {"mdm": "device_name", "ledger": "asset_number"},
        "asset_number_source": "device_name",
        "schedule": {"local_time": "07:30", "time_zone": "Asia/Tokyo"},
    }
    _, errors = link_settings({"mdm_key": "x", "local_time": "25:00", "time_zone": "Mars/Base"}, "UTC")
    assert set(errors) == {"mdm_key", "local_time", "time_zone", "integration_id"}


@pytest.mark.rule("R-A2")
def test_a_settings_plan_asks_only_for_what_differs() -> None:
    link = {
        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
        "asset_number_source": "uuid",
    }
    same = {
        "matching_key": {"mdm": "serial_number", "ledger": "serial_number"},
        "asset_number_source": "uuid",
    }
    assert settings_change(link, same) == {}
    key = same | {"matching_key": {"mdm": "device_name", "ledger": "asset_number"}}
    assert settings_change(link, key) == {"matching_key": {"mdm": "device_name", "ledger": "asset_number"}}
    source = same | {"asset_number_source": "device_name"}
    assert settings_change(link, source) == {"asset_number_source": "device_name"}


# --- conflicts (R-M9) ------------------------------------------------------------------------------


@pytest.mark.rule("R-M9")
def test_conflict_candidates_side_by_side_with_agreement_marked() -> None:
    conflict = {
        "observed": {
            "serial_number": "SN1",
            "model": "X1",
            "device_name": "PC-1",
            "primary_user_email": "a@x",
        },
        "candidates": [
            {
                "device_id": "d1",
                "serial_number": "SN1",
                "model": "X1",
                "assigned_user": "A@x",
                "source": "manual",
            },
            {
                "device_id": "d2",
                "serial_number": "sn1",
                "model": "X2",
                "assigned_user": None,
                "source": "manual",
            },
        ],
    }
    rows = {r["field"]: r for r in compare_rows(conflict)}
    assert rows["serial_number"]["same"] == [True, True]
    assert rows["model"]["same"] == [True, False]
    assert rows["assigned_user"]["mdm"] == "a@x" and rows["assigned_user"]["same"] == [True, False]
    assert rows["device_name"]["mdm"] == "PC-1"


# --- sessions, CSRF, scopes --------------------------------------------------------------------------


def test_sessions_are_random_expire_and_check_csrf() -> None:
    store = SessionStore(ttl_seconds=3600)
    a, b = store.create("tok-a", "admin", "UTC"), store.create("tok-b", "read", "UTC")
    assert a.session_id != b.session_id and a.csrf_token != b.csrf_token
    assert store.get(a.session_id) is a and store.get("nope") is None and store.get(None) is None
    assert (
        a.csrf_ok(a.csrf_token) and not a.csrf_ok(b.csrf_token) and not a.csrf_ok("") and not a.csrf_ok(None)
    )
    assert a.can_write and not b.can_write
    assert "tok-a" not in repr(a)
    store.drop(a.session_id)
    assert store.get(a.session_id) is None
    expired = SessionStore(ttl_seconds=-1)
    s = expired.create("t", "admin", "UTC")
    assert expired.get(s.session_id) is None


def test_scopes_of_who_am_i_answers() -> None:
    assert _scopes_of({"scopes": ["read"]}) == ["read"]
    assert _scopes_of({"token": {"scopes": ["admin", "read"]}}) == ["admin", "read"]
    assert _scopes_of({"scope": "admin"}) == ["admin"]
    assert _scopes_of({"name": "x"}) is None


def _api(routes: dict[tuple[str, str], httpx.Response]) -> tuple[Api, Capabilities]:
    paths: dict[str, dict[str, Any]] = {}
    for method, path in routes:
        paths.setdefault(path, {})[method.lower()] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/openapi.json":
            return httpx.Response(200, json={"paths": paths})
        return routes.get((request.method, request.url.path), httpx.Response(404))

    http = httpx.AsyncClient(transport=httpx.MockTransport(handler), base_url="http://api")
    return Api(http, "t"), Capabilities(http)


async def test_scope_detection_follows_what_the_api_offers() -> None:
    api, caps = _api({})
    assert await detect_scope(api, caps) == "admin"  # no scopes in this API: bootstrap tokens are admins
    api, caps = _api({("GET", "/v1/me"): httpx.Response(200, json={"scopes": ["read"]})})
    assert await detect_scope(api, caps) == "read"
    api, caps = _api({("GET", "/v1/tokens"): httpx.Response(403, json={"error": {"code": "forbidden"}})})
    assert await detect_scope(api, caps) == "read"
    api, caps = _api({("GET", "/v1/tokens"): httpx.Response(200, json={"items": []})})
    assert await detect_scope(api, caps) == "admin"


def test_a_binding_sync_names_the_new_source_once() -> None:
    bound = views.explain(
        entry(
            change="source_changed",
            previous_source="manual",
            changes=[{"field": "source", "before": "manual", "after": "intune", "rule": "binding"}],
        ),
        INTEGRATIONS,
        "UTC",
        EN,
    )
    assert [line.text for line in bound.lines] == ["Source: Manual → Intune — bound to the MDM device, R-M4"]
    implicit = views.explain(
        entry(change="source_changed", previous_source="manual", changes=[]), INTEGRATIONS, "UTC", EN
    )
    assert implicit.lines[0].text == "Source: Manual → Intune"
    os_line = views.explain(
        entry(changes=[{"field": "os", "before": None, "after": "iOS (18.1)", "rule": "mdm_first"}]),
        INTEGRATIONS,
        "UTC",
        EN,
    )
    assert os_line.lines[0].text == "OS: (empty) → iOS (18.1) — MDM-first for the OS, R-I2"


@pytest.mark.rule("R-A1")
def test_the_api_error_of_an_integration_is_explained() -> None:
    state = views.integration_state(
        {
            "state": "error",
            "error": {"kind": "authentication", "message": "AADSTS7000215: invalid client secret", "at": "x"},
            "last_succeeded_at": "2026-11-28T21:00:00Z",
        },
        "Asia/Tokyo",
        JA,
    )
    assert state.label == "エラー"
    assert state.reason == "認証エラー — AADSTS7000215: invalid client secret"
    assert state.last_ok == "2026-11-29 06:00"
    assert views.integration_state({"state": "untested"}, "UTC", EN).label == "Not tested"


def test_audit_before_after_on_one_line() -> None:
    from ledger_console.routes_runs import compact

    assert compact({"matching_key": {"mdm": "uuid", "ledger": "serial_number"}, "error": None}) == (
        "matching_key: {mdm: uuid, ledger: serial_number}"
    )
    assert compact({"scopes": ["read"], "name": "x"}) == "scopes: [read], name: x"
    assert compact(None) == ""
