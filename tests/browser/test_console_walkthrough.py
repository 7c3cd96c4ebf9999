"""The administrator's whole path in a real browser (Debian's chromium, driven by Playwright for
Python) on the real stack: broker, PostgreSQL, the simulated Intune and Jamf Pro tenants, the four
services, and the console as its own process (issue 13).

The tenant starts empty: nothing is connected. The administrator signs in, imports a CSV (its
row-numbered errors first), connects Intune and Jamf Pro, links Intune with a preview, watches the
first sync, reads the Source column and a device's history, exports and re-imports the CSV,
resolves the conflict the import set up (two manual devices with one serial: R-M9), and unlinks
keeping the devices (R-S4). A read-only token's session shows no write control and a forged POST
gets 403.

The steps share one stack and one browser page and run in file order (each test a step, each well
under a minute). Skipped, with the reason, where chromium is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.infra import free_port
from devstack.stack import TENANT, Stack, StackConfig

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
if not Path(CHROMIUM).exists():
    pytest.skip(
        f"browser tests need Debian's chromium at {CHROMIUM} "
        "(apt-get install -y chromium fonts-ipafont-gothic)",
        allow_module_level=True,
    )
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright for Python is not installed")

# Serials of the simulated Intune tenant (mdm_sim generate_devices(12, seed=42)): the import sets up
# one device that the sync binds (ZV8HNMX) and two manual twins of one serial (Z685RB0) → a conflict.
BOUND_SERIAL = "ZV8HNMX"
TWIN_SERIAL = "Z685RB0"
INTUNE_DEVICES = 12
STEP_TIMEOUT_MS = 45_000


class EmptyTenantStack(Stack):
    """The demo stack with its simulated MDMs running, but a tenant with nothing connected or linked:
    the administrator connects them in the console."""

    def _write_configs(self) -> None:
        self.links = []
        tenant = {
            "tenant_id": TENANT,
            "name": "Demo Company",
            "time_zone": "Asia/Tokyo",
            "api_tokens": [self.config.token],
        }
        path = self.config.root / "ledger-bootstrap.json"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"tenants": [tenant]}, f)


@dataclass
class World:
    stack: Stack
    console_url: str
    page: Any  # playwright Page
    browser: Any
    state: dict[str, Any]


def wait_healthy(url: str, alive: Any) -> None:
    deadline = time.monotonic() + 30
    with httpx.Client(trust_env=False, timeout=2) as c:
        while time.monotonic() < deadline:
            alive()
            try:
                if c.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)  # polling the console's health endpoint until it answers
    raise TimeoutError(f"the console at {url} did not answer /healthz in 30 s")


def start_console(api_url: str, root: Path) -> tuple[subprocess.Popen[bytes], str]:
    """A console of our own, for a Stack that does not start one."""
    port = free_port()
    log = (root / "logs" / "console.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ledger_console"],
        env={**os.environ, "LEDGER_CONSOLE_API_URL": api_url, "LEDGER_CONSOLE_PORT": str(port)},
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    log.close()

    def alive() -> None:
        if proc.poll() is not None:
            raise RuntimeError(f"the console exited; see {root / 'logs' / 'console.log'}")

    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, alive)
    except BaseException:
        proc.terminate()
        raise
    return proc, url


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = Path(tmp_path_factory.mktemp("console")) / "stack"
    config = StackConfig(
        root=root,
        intune_devices=INTUNE_DEVICES,
        jamf_computers=3,
        jamf_mobiles=2,
        api_port=free_port(),
        session_timeout_ms=2000,
    )
    with EmptyTenantStack(config) as stack:
        console: subprocess.Popen[bytes] | None = None
        url = getattr(stack, "console_url", None)  # devstack starts the console beside the API
        if url:
            wait_healthy(url, stack.check_alive)
        else:
            console, url = start_console(stack.api_url, root)
        try:
            with sync_api.sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                context = browser.new_context(locale="en-US", accept_downloads=True)
                page = context.new_page()
                page.set_default_timeout(STEP_TIMEOUT_MS)
                yield World(stack, url, page, browser, {})
                browser.close()
        finally:
            if console is not None:
                console.terminate()
                console.wait(10)


def post_forms(page: Any) -> list[str]:
    """The actions of every POST form on the page, sign-out aside."""
    actions: list[str] = page.eval_on_selector_all(
        "form[method=post]", "fs => fs.map(f => f.getAttribute('action'))"
    )
    return [a for a in actions if a != "/signout"]


def devices_csv(*rows: str) -> bytes:
    return ("asset_number,serial_number,model,assigned_user\n" + "\n".join(rows) + "\n").encode()


def test_01_sign_in(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/devices")
    assert "/signin" in page.url
    page.fill("input[name=token]", "not-a-token-0123456789")
    page.click("button[type=submit].primary")
    assert page.locator("p.error").is_visible()
    page.fill("input[name=token]", world.stack.config.token)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/devices")
    assert page.locator("h1").inner_text() == "Device ledger"
    cookies = {c["name"]: c for c in page.context.cookies()}
    session = cookies["ledger_console_session"]
    assert session["httpOnly"] and session["sameSite"] == "Strict"
    assert world.stack.config.token not in json.dumps(page.context.cookies())
    assert page.evaluate("document.cookie") == ""  # nothing script-readable


@pytest.mark.rule("R-C2")
def test_02_csv_import_shows_row_numbered_errors_then_imports(world: World) -> None:
    page = world.page
    page.click("#import-csv")
    bad = devices_csv("MAN-1,X1,Model,a@example.com", "MAN-1,X2,Model,b@example.com")  # asset number twice
    page.set_input_files("#import-file", files=[{"name": "bad.csv", "mimeType": "text/csv", "buffer": bad}])
    page.click("#import-submit")
    errors = page.locator("#import-errors")
    assert errors.is_visible()
    assert re.search(r"\b3\b", errors.locator("tbody").inner_text())  # row 3 (the header is row 1)
    good = devices_csv(
        f"MAN-1,{TWIN_SERIAL},Latitude 7440,first.twin@example.com",
        f"MAN-2,{TWIN_SERIAL},Latitude 7440,second.twin@example.com",
        f"MAN-3,{BOUND_SERIAL},OptiPlex,old.owner@example.com",
    )
    page.set_input_files("#import-file", files=[{"name": "good.csv", "mimeType": "text/csv", "buffer": good}])
    page.click("#import-submit")
    assert "Imported 3 row(s): 3 created" in page.locator("#import-result").inner_text()


def test_03_connect_intune_and_jamf_without_echoing_secrets(world: World) -> None:
    page, sims = world.page, world.stack.sims
    page.goto(f"{world.console_url}/integrations")
    intune = sims["intune"]
    page.click("#connect-intune summary")
    form = page.locator("#connect-intune form")
    form.locator("input[name=display_name]").fill("Contoso Intune")
    form.locator("input[name=integration_id]").fill("int-intune-console")
    form.locator("input[name=azure_tenant_id]").fill(intune["azure_tenant_id"])
    form.locator("input[name=client_id]").fill(intune["client_id"])
    form.locator("input[name=client_secret]").fill(intune["client_secret"])
    form.locator("details summary").click()
    form.locator("input[name=authority_url]").fill(intune["authority_url"])
    form.locator("input[name=graph_base_url]").fill(intune["graph_base_url"])
    form.locator("input[name=ca_bundle]").fill(intune["ca"])
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/integrations?notice=connected")
    jamf = sims["jamf"]
    page.click("#connect-jamf summary")
    form = page.locator("#connect-jamf form")
    form.locator("input[name=display_name]").fill("Jamf Pro HQ")
    form.locator("input[name=integration_id]").fill("int-jamf-console")
    form.locator("input[name=base_url]").fill(jamf["base_url"])
    form.locator("input[name=client_id]").fill(jamf["client_id"])
    form.locator("input[name=client_secret]").fill(jamf["client_secret"])
    form.locator("details summary").click()
    form.locator("input[name=ca_bundle]").fill(jamf["ca"])
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/integrations?notice=connected")
    table = page.locator("#integrations").inner_text()
    assert "Contoso Intune" in table and "Jamf Pro HQ" in table and "Not tested" in table
    html = page.content()
    assert intune["client_secret"] not in html and jamf["client_secret"] not in html
    # Test the connection: the API's answer, or a clear message where the API has no test yet.
    page.locator("tr[data-integration=int-intune-console] button.test").click()
    assert page.locator("#int-message").inner_text() == "The connection test succeeded."
    state = page.locator("tr[data-integration=int-intune-console] .state").inner_text()
    assert state == "Connected"


@pytest.mark.rule("R-S3", "R-M1")
def test_04_link_with_a_preview_and_watch_the_first_sync(world: World) -> None:
    page = world.page
    page.locator("tr[data-integration=int-intune-console] a.button").click()
    page.select_option("#mdm-key", "serial_number")
    page.select_option("#ledger-key", "serial_number")
    page.select_option("#asset-source", "device_name")
    page.fill("#local-time", "06:30")
    page.click("#preview")
    preview = page.locator("#link-preview")
    assert preview.is_visible()
    assert "Serial number ↔ Serial number" in page.locator("#preview-settings").inner_text()
    # The preview is a real dry run (POST /v1/master-links/preview): its planned items are listed
    # before anything is linked.
    planned = page.locator("#plan-items tbody tr")
    assert planned.count() >= 1, page.locator("#link-preview").inner_text()
    page.click("#execute")
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+\?linked=1"))
    # console.js polls the run and reloads the page when it is finished.
    done = page.locator("#link-done")
    done.wait_for(timeout=STEP_TIMEOUT_MS)
    assert done.inner_text() == "The master link is complete"
    counts = {
        c: int(page.locator(f"#run-counts td[data-count={c}]").inner_text())
        for c in ("seen", "created", "updated", "conflicts")
    }
    assert counts["seen"] == INTUNE_DEVICES
    assert counts["updated"] >= 1 and counts["conflicts"] == 1  # MAN-3 bound; the twins conflict
    # R-M14: the run's skipped records and warnings are listed (none in this tenant).
    assert "No record was skipped or warned about." in page.content()
    world.state["run_url"] = page.url


def test_04b_a_dry_run_shows_what_a_sync_would_change(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/links")
    page.locator("#master-links tbody tr").first.locator("button.dry-run").click()
    page.wait_for_url(re.compile(r"/runs/[0-9a-f-]+$"))
    plan = page.locator("#run-plan")
    plan.wait_for(timeout=STEP_TIMEOUT_MS)  # console.js reloads the page once the run is finished
    # Nothing changed in the MDM since the first sync: only the open conflict is planned again.
    assert "0 to create, 0 to update" in page.locator("#plan-counts").inner_text()


@pytest.mark.rule("R-A2")
def test_04c_a_settings_change_is_planned_then_applied(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/links")
    row = page.locator("#master-links tbody tr").first
    row.locator("details.menu summary").click()
    row.locator("a.edit").click()
    page.select_option("#asset-source", "uuid")
    page.click("#plan-change")
    page.wait_for_url(re.compile(r"/plans/[0-9a-f-]+$"))
    apply = page.locator("#apply-plan")
    try:
        apply.wait_for(timeout=STEP_TIMEOUT_MS)  # shown once the plan's dry run is complete
    except sync_api.TimeoutError:
        link_id, plan_id = page.url.split("/links/")[1].split("/plans/")
        with world.stack.client() as c:
            plan = c.get(f"/v1/master-links/{link_id}/settings/plans/{plan_id}").json()
        raise AssertionError(f"the settings plan never became ready: {plan}") from None
    assert "Device name" in page.locator("#plan-settings").inner_text()
    assert page.locator("#plan-counts").is_visible()
    apply.click()
    page.wait_for_url("**/links?notice=changed")
    assert "UUID" in page.locator("#master-links tbody tr").first.inner_text()


@pytest.mark.rule("R-S1", "R-M11", "R-I6")
def test_05_the_source_column_and_a_device_history(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/devices?source=intune")
    sources = page.locator("#device-table td[data-col=source]").all_inner_texts()
    assert sources and set(sources) == {"Intune"}
    page.goto(f"{world.console_url}/devices?q={BOUND_SERIAL}")
    page.locator("#device-table tbody tr").first.locator("a").first.click()
    assert page.locator("#device-source").inner_text() == "Intune"
    assert page.locator("#mdm-fields").is_visible()
    history = page.locator("#history").inner_text()
    assert "sync of" in history
    assert "old.owner@example.com →" in history and "MDM-first for the assigned user, R-I6" in history


@pytest.mark.rule("R-C1", "R-C2")
def test_06_export_and_import_the_csv(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/devices")
    with page.expect_download() as download:
        page.click("#export-csv")
    data = Path(download.value.path()).read_bytes()
    lines = data.decode("utf-8-sig").splitlines()
    assert lines[0].startswith("device_id") and BOUND_SERIAL in data.decode()
    page.click("#import-csv")
    page.set_input_files(
        "#import-file", files=[{"name": "export.csv", "mimeType": "text/csv", "buffer": data}]
    )
    page.click("#import-submit")
    result = page.locator("#import-result").inner_text()
    assert "0 created, 0 updated" in result  # the export imported back changes nothing (R-C1, R-C2)


@pytest.mark.rule("R-M9")
def test_07_resolve_the_conflict_side_by_side(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/conflicts")
    page.locator("#conflicts tbody tr").first.locator("a").click()
    compare = page.locator("#compare")
    assert "Candidate 1" in compare.inner_text() and "Candidate 2" in compare.inner_text()
    assert TWIN_SERIAL in compare.locator("tbody").inner_text()
    page.locator("button.resolve-link").first.click()
    notice = page.locator("#conflict-notice").inner_text()
    assert notice in ("The conflict is resolved.", "Accepted; being applied.")


@pytest.mark.rule("R-S4")
def test_08_unlink_with_keep(world: World) -> None:
    page = world.page
    page.goto(f"{world.console_url}/links")
    row = page.locator("#master-links tbody tr").first
    row.locator("details.menu summary").click()
    row.locator("a.unlink").click()
    dialog = page.locator("dialog")  # console.js opens the seed's dialog over the list
    dialog.locator("#unlink-keep").check()
    dialog.locator("#unlink-confirm").click()
    page.wait_for_url("**/links?notice=unlinked")
    # R-S4: once the reconciler has applied the unlink, no device is Intune's any more.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        page.goto(f"{world.console_url}/devices?source=intune")
        if page.locator("#device-table").count() == 0:
            break
        time.sleep(0.5)  # waiting for the reconciler to apply the unlink (explicit state: the list)
    assert page.locator("#device-table").count() == 0
    page.goto(f"{world.console_url}/devices?q={BOUND_SERIAL}")
    assert page.locator("#device-table td[data-col=source]").first.inner_text() == "Manual"


def test_09_japanese_screens_use_the_seed_terms(world: World) -> None:
    context = world.browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(f"{world.console_url}/signin")
    page.fill("input[name=token]", world.stack.config.token)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/devices")
    assert page.locator("h1").inner_text() == "デバイス台帳"
    assert "ソース" in page.locator("#device-table thead").inner_text()
    assert "手動" in page.locator("#device-table tbody").inner_text()
    page.goto(f"{world.console_url}/integrations")
    assert "連携済" in page.locator("#integrations").inner_text()
    page.click("a.lang")
    assert page.locator("h1").inner_text() == "Integrations"
    context.close()


def _create_read_token(stack: Stack) -> str:
    with stack.client() as c:
        r = c.post("/v1/tokens", json={"name": "reporting", "scopes": ["read"]})
        r.raise_for_status()
        body = r.json()
    for key in ("token", "secret", "plain_token", "value"):
        if isinstance(body.get(key), str):
            return str(body[key])
    raise AssertionError(f"no token in the answer's keys {sorted(body)}")


@pytest.mark.rule("R-A3")
def test_10_a_read_token_sees_no_write_control_and_a_forged_post_gets_403(world: World) -> None:
    token = _create_read_token(world.stack)
    context = world.browser.new_context(locale="en-US")
    page = context.new_page()
    page.goto(f"{world.console_url}/signin")
    page.fill("input[name=token]", token)
    page.click("button[type=submit].primary")
    page.wait_for_url("**/devices")
    assert page.locator("#readonly-banner").is_visible()
    for path in ("/devices", "/integrations", "/links", "/runs", "/conflicts"):
        page.goto(f"{world.console_url}{path}")
        assert post_forms(page) == [], path
        assert page.locator("#import-csv, #new-link, a.unlink, button.sync-now").count() == 0, path
    csrf = page.locator("input[name=csrf_token]").first.get_attribute("value")
    for action, form in [
        ("/links/ml-any/sync", {}),
        ("/integrations", {"kind": "intune"}),
        ("/links/ml-any/unlink", {"keep_devices": "false"}),
    ]:
        r = page.request.post(f"{world.console_url}{action}", form={"csrf_token": csrf or "", **form})
        assert r.status == 403, action
    context.close()
