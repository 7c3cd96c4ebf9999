"""Pure parts of the administrator's workflow: the daily schedule (R-M7, DST), the key ring, the
credentials models (what is sealed, what is shown)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from cryptography.fernet import Fernet
from pydantic import ValidationError

from ledger_api.domain.credentials import IntuneCredentials, JamfCredentials, credentials_adapter
from ledger_api.domain.crypto import KeyRing, SecretsKeyError
from ledger_api.scheduler import next_daily_run

pytestmark = pytest.mark.unit

SIX = time(6, 0)


def local(dt: datetime, zone: str) -> str:
    return dt.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


# --- next_daily_run ----------------------------------------------------------------------------


def test_today_when_the_time_is_still_ahead_else_tomorrow() -> None:
    before = datetime(2026, 11, 26, 20, 0, tzinfo=UTC)  # 05:00 in Tokyo on the 27th
    assert local(next_daily_run(before, SIX, "Asia/Tokyo"), "Asia/Tokyo") == "2026-11-27 06:00"
    after = datetime(2026, 11, 26, 22, 0, tzinfo=UTC)  # 07:00 in Tokyo on the 27th
    assert local(next_daily_run(after, SIX, "Asia/Tokyo"), "Asia/Tokyo") == "2026-11-28 06:00"
    exactly = datetime(2026, 11, 26, 21, 0, tzinfo=UTC)  # 06:00 in Tokyo: strictly after, so tomorrow
    assert local(next_daily_run(exactly, SIX, "Asia/Tokyo"), "Asia/Tokyo") == "2026-11-28 06:00"


def test_runs_missed_for_days_collapse_into_the_next_occurrence() -> None:
    now = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)  # 12:00 Tokyo
    nxt = next_daily_run(now, SIX, "Asia/Tokyo")
    assert nxt - now < timedelta(days=1) and local(nxt, "Asia/Tokyo") == "2026-11-27 06:00"


def test_dst_days_run_exactly_once_each_day() -> None:
    zone = "America/New_York"  # 2026-03-08 02:00 → 03:00; 2026-11-01 02:00 → 01:00
    for wall, start in (
        (time(2, 30), datetime(2026, 3, 5, tzinfo=UTC)),
        (time(1, 30), datetime(2026, 10, 29)),
    ):
        at = start.replace(tzinfo=UTC)
        runs = []
        for _ in range(6):
            at = next_daily_run(at, wall, zone)
            runs.append(at)
        days = [r.astimezone(ZoneInfo(zone)).date() for r in runs]
        assert len(set(days)) == 6 and all((b - a).days == 1 for a, b in itertools.pairwise(days))
    # The skipped 02:30 runs at 03:30 on the day of the gap; the repeated 01:30 at its first occurrence.
    gap = next_daily_run(datetime(2026, 3, 8, 5, 0, tzinfo=UTC), time(2, 30), zone)
    assert local(gap, zone) == "2026-03-08 03:30"
    fold = next_daily_run(datetime(2026, 11, 1, 4, 0, tzinfo=UTC), time(1, 30), zone)
    assert fold == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # 01:30 EDT, not 01:30 EST (06:30Z)


# --- key ring ---------------------------------------------------------------------------------


def test_key_ring_round_trip_rotation_and_fingerprints() -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    sealed_old = KeyRing([old]).encrypt_json({"client_secret": "s3cr3t"})
    ring = KeyRing.parse(f"{new.decode()}, {old.decode()}")
    assert ring.decrypt_json(sealed_old) == {"client_secret": "s3cr3t"}
    rotated = ring.rotate(sealed_old)
    assert KeyRing([new]).decrypt_json(rotated) == {"client_secret": "s3cr3t"}
    assert ring.key_id == KeyRing([new]).key_id != KeyRing([old]).key_id
    assert new.decode() not in ring.key_id and new.decode() not in repr(ring)
    with pytest.raises(SecretsKeyError, match="none of the keys"):
        KeyRing([Fernet.generate_key()]).decrypt_json(sealed_old)


def test_a_bad_key_is_refused_without_echoing_it() -> None:
    with pytest.raises(SecretsKeyError, match="#2 is not a Fernet key") as info:
        KeyRing.parse(f"{Fernet.generate_key().decode()},not-a-key-but-a-password-123")
    assert "not-a-key-but-a-password-123" not in str(info.value)
    with pytest.raises(SecretsKeyError):
        KeyRing.parse(" , ")


# --- credentials ------------------------------------------------------------------------------


def test_intune_entry_is_the_connector_file_format_and_the_connection_hides_the_secret() -> None:
    creds = IntuneCredentials(
        kind="intune", azure_tenant_id="tid", client_id="cid", client_secret="s3cr3t-v4lue"
    )
    assert creds.entry() == {"azure_tenant_id": "tid", "client_id": "cid", "client_secret": "s3cr3t-v4lue"}
    assert "s3cr3t-v4lue" not in repr(creds) and "s3cr3t-v4lue" not in str(creds.connection())
    sovereign = credentials_adapter.validate_python(
        {
            "kind": "intune",
            "azure_tenant_id": "tid",
            "client_id": "cid",
            "client_secret": "x",
            "authority_url": "https://login.microsoftonline.us/tid",
            "graph_base_url": "https://graph.microsoft.us",
        }
    )
    assert sovereign.entry()["graph_base_url"] == "https://graph.microsoft.us"


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"client_id": "c"},
        {"client_id": "c", "client_secret": "s", "username": "u", "password": "p"},
        {"username": "u"},
    ],
)
def test_jamf_needs_exactly_one_way_to_sign_in(fields: dict[str, str]) -> None:
    with pytest.raises(ValidationError, match="client_id and client_secret, or username and password"):
        JamfCredentials(kind="jamf_pro", base_url="https://jamf.example.com", **fields)


def test_jamf_entries_and_errors_never_quote_a_secret() -> None:
    basic = JamfCredentials(kind="jamf_pro", base_url="https://j.example", username="u", password="pw-123456")
    assert basic.entry() == {"base_url": "https://j.example", "username": "u", "password": "pw-123456"}
    assert basic.connection()["auth"] == "user" and "pw-123456" not in str(basic.connection())
    with pytest.raises(ValidationError) as info:
        JamfCredentials(
            kind="jamf_pro", base_url="ftp://nope", client_id="c", client_secret="Sup3r-Secret-42"
        )
    assert "Sup3r-Secret-42" not in str(info.value)
