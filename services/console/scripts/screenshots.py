"""Screenshots of the console's main screens, in Japanese and English, into docs/screenshots/.

    .venv/bin/python services/console/scripts/screenshots.py            # starts its own demo stack
    .venv/bin/python services/console/scripts/screenshots.py --console http://127.0.0.1:8080 \
        --api http://127.0.0.1:8000 --token "$LEDGER_DEMO_TOKEN"          # a running `make demo`

Its own stack is the demo's (devstack `Stack`: broker, PostgreSQL, simulated Intune and Jamf Pro
tenants, the services) with fewer devices; before the first syncs it imports a few manual devices
over the API (one that Intune will bind, two twins of one serial that make a conflict), so every
screen has something to show. Needs Debian's chromium (`/usr/bin/chromium`) and Playwright for
Python; never downloads a browser.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[3]
OUT = REPO / "docs" / "screenshots"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


def manual_devices(serials: list[str]) -> bytes:
    bound, twin = serials[3], serials[2]
    rows = [
        "asset_number,serial_number,manufacturer,model,assigned_user,status",
        f"PC-0001,{bound},Dell,OptiPlex 7010,old.owner@contoso.com,in_use",
        f"PC-0002,{twin},Dell,Latitude 7440,first.twin@contoso.com,in_use",
        f"PC-0003,{twin},Dell,Latitude 7440,second.twin@contoso.com,in_stock",
        "PC-0004,SN-LOANER-01,Lenovo,ThinkPad X1,,in_stock",
        "PC-0005,SN-LOANER-02,Apple,MacBook Air,loaner@contoso.com,in_use",
    ]
    return ("\n".join(rows) + "\n").encode()


@contextmanager
def own_stack() -> Iterator[tuple[str, str, str]]:
    """(console URL, API URL, token) of a fresh demo stack with a console, stopped afterwards."""
    from devstack.infra import free_port
    from devstack.stack import Stack, StackConfig
    from mdm_sim.graph.generate import generate_devices

    intune = 300
    with tempfile.TemporaryDirectory(prefix="console-shots-") as tmp:
        config = StackConfig(
            root=Path(tmp) / "stack",
            intune_devices=intune,
            jamf_computers=30,
            jamf_mobiles=20,
            api_port=free_port(),
            session_timeout_ms=2000,
        )
        with Stack(config) as stack:
            serials = [d["serialNumber"] for d in generate_devices(intune, config.seed)]
            with stack.client() as c:
                r = c.post(
                    "/v1/devices/import",
                    content=manual_devices(serials),
                    headers={"Content-Type": "text/csv"},
                )
                r.raise_for_status()
                # An integration connected but not linked yet: the link preview has one to offer.
                c.post(
                    "/v1/integrations",
                    json={
                        "kind": "intune",
                        "integration_id": "int-fabrikam",
                        "display_name": "Fabrikam Intune",
                        "azure_tenant_id": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                        "client_id": "0c4f9b0e-6a51-4b4f-9a8b-3f1b6c2d7e90",
                        "client_secret": "not-a-real-secret",
                    },
                )
            for link in stack.links:
                stack.wait_run(stack.sync(link["master_link_id"])["sync_run_id"], timeout=300)
            with stack.client() as c:  # a planned settings change (R-A2), left unapplied
                r = c.post(
                    f"/v1/master-links/{stack.links[0]['master_link_id']}/settings/plan",
                    json={"matching_key": {"mdm": "device_name", "ledger": "asset_number"}},
                )
                if r.status_code == 202:
                    stack.wait_run(r.json()["plan_id"], timeout=120)
            url = getattr(stack, "console_url", None)  # devstack starts the console beside the API
            console = None
            if not url:
                port = free_port()
                log = (config.root / "logs" / "console.log").open("ab")
                console = subprocess.Popen(
                    [sys.executable, "-m", "ledger_console"],
                    env={
                        **os.environ,
                        "LEDGER_CONSOLE_API_URL": stack.api_url,
                        "LEDGER_CONSOLE_PORT": str(port),
                    },
                    stdout=log,
                    stderr=log,
                    start_new_session=True,
                )
                url = f"http://127.0.0.1:{port}"
            try:
                wait_healthy(url)
                yield url, stack.api_url, config.token
            finally:
                if console is not None:
                    console.terminate()
                    console.wait(10)


def wait_healthy(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with httpx.Client(trust_env=False, timeout=2) as c:
        while time.monotonic() < deadline:
            try:
                if c.get(f"{url}/healthz").status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
    raise TimeoutError(f"{url} did not answer")


def first(api: httpx.Client, path: str, **params: str) -> dict[str, Any] | None:
    items = api.get(path, params=params).raise_for_status().json().get("items", [])
    return items[0] if items else None


def shoot(console: str, api_url: str, token: str) -> list[Path]:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    with httpx.Client(base_url=api_url, headers={"Authorization": f"Bearer {token}"}, trust_env=False) as api:
        bound = first(api, "/v1/devices", q="PC-0001", fields="device_id") or first(
            api, "/v1/devices", source="intune", fields="device_id"
        )
        open_conflicts = (
            api.get("/v1/conflicts", params={"status": "open", "limit": "100"}).json().get("items", [])
        )
        conflict = next((c for c in open_conflicts if c.get("rule") == "ambiguous_match"), None) or (
            open_conflicts[0] if open_conflicts else None
        )
        run = first(api, "/v1/sync-runs", status="completed")
        links = api.get("/v1/master-links").json().get("items", [])
        plan_run = first(api, "/v1/sync-runs", status="completed", trigger="manual")
        unlinked = [
            i
            for i in api.get("/v1/integrations").json().get("items", [])
            if i.get("state") != "master_linked"
        ]
    shots: list[tuple[str, str, Any]] = [
        ("01-devices", "/devices?limit=25", None),
        ("02-devices-columns", "/devices?limit=25&source=intune", "#column-chooser summary"),
        ("04-integrations", "/integrations", None),
        ("05-master-links", "/links", None),
    ]
    if bound:
        shots.append(("03-device-detail", f"/devices/{bound['device_id']}", None))
    if unlinked:
        shots.append(("06-link-form", f"/links/new?integration_id={unlinked[0]['integration_id']}", None))
    if links:  # the seed's dialog, opened by console.js over the list
        shots.append(
            ("08-unlink-dialog", "/links", "#master-links tbody tr:first-child details.menu summary")
        )
    if run:
        shots.append(("09-sync-run", f"/runs/{run['sync_run_id']}", None))
    shots.append(("10-sync-runs", "/runs", None))
    shots.append(("13-audit-log", "/audit", None))
    if links and plan_run and plan_run.get("dry_run"):
        link_id = plan_run["master_link_id"]
        shots.append(("07b-settings-plan", f"/links/{link_id}/plans/{plan_run['sync_run_id']}", None))
    if conflict:
        shots.append(("11-conflict", f"/conflicts/{conflict['conflict_id']}", None))
    written: list[Path] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        for lang, locale in (("ja", "ja-JP"), ("en", "en-US")):
            context = browser.new_context(locale=locale, viewport={"width": 1360, "height": 860})
            page = context.new_page()
            page.goto(f"{console}/signin")
            written.append(_save(page, lang, "00-signin"))
            page.fill("input[name=token]", token)
            page.click("button[type=submit].primary")
            page.wait_for_url("**/devices")
            for name, path, click in shots:
                page.goto(f"{console}{path}")
                if click:
                    page.click(click)
                    if name == "08-unlink-dialog":
                        page.click("#master-links tbody tr:first-child a.unlink")
                        page.wait_for_selector("dialog #unlink-keep")
                written.append(_save(page, lang, name))
            if unlinked:  # the preview of that link (nothing is created)
                page.goto(f"{console}/links/new?integration_id={unlinked[0]['integration_id']}")
                page.click("#preview")
                written.append(_save(page, lang, "07-link-preview"))
            page.goto(f"{console}/devices/import")
            bad = b"asset_number,serial_number,purchase_date\nPC-0001,X1,2026-13-01\nPC-0001,X2,\n"
            page.set_input_files(
                "#import-file", files=[{"name": "devices.csv", "mimeType": "text/csv", "buffer": bad}]
            )
            page.click("#import-submit")
            written.append(_save(page, lang, "12-csv-import-errors"))
            context.close()
        browser.close()
    return written


def _save(page: Any, lang: str, name: str) -> Path:
    path = OUT / f"{lang}-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--console", help="URL of a running console (with --api and --token)")
    parser.add_argument("--api", help="URL of its ledger API")
    parser.add_argument("--token", default=os.environ.get("LEDGER_DEMO_TOKEN"), help="an admin API token")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        print(
            f"chromium not found at {CHROMIUM}: apt-get install -y chromium fonts-ipafont-gothic",
            file=sys.stderr,
        )
        return 2
    if args.console:
        if not (args.api and args.token):
            parser.error("--console needs --api and --token")
        written = shoot(args.console, args.api, args.token)
    else:
        with own_stack() as (console, api_url, token):
            written = shoot(console, api_url, token)
    for path in written:
        print(path.relative_to(REPO))
    return 0


if __name__ == "__main__":
    sys.exit(main())
