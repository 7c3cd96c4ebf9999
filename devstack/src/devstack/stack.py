"""The whole system as real processes: broker, database, simulated MDM tenants, the four services.

`make demo`, `make bench` and the end-to-end tests all run this same stack; nothing is faked.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import secrets
import selectors
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Literal

import asyncpg
import httpx
import structlog

from . import infra, testing

log = structlog.get_logger(__name__)

TENANT = "demo"
INTUNE_INTEGRATION = "int-intune-demo"
JAMF_INTEGRATION = "int-jamf-demo"


@dataclass
class StackConfig:
    root: Path
    intune_devices: int = 2000
    intune_samples: list[Path] = field(default_factory=list)
    jamf_computers: int = 0
    jamf_mobiles: int = 0
    jamf_sim_args: list[str] = field(
        default_factory=list
    )  # e.g. ["--versions", "v3", "--token-lifetime", "1"]
    api_port: int = 8000
    token: str = field(
        default_factory=lambda: os.environ.get("LEDGER_DEMO_TOKEN") or secrets.token_urlsafe(24)
    )
    seed: int = 42
    # Macs enrolled in both simulated MDMs with the same serials (issue 11); added to each tenant.
    shared_macs: int = 0
    # Consumer-group joins wait about half of this on Tansu (see README "Kafka").
    session_timeout_ms: int = 4000
    topic_prefix: str = ""
    asset_number_source: str = "device_name"
    matching_key: dict[str, str] = field(
        default_factory=lambda: {"mdm": "serial_number", "ledger": "serial_number"}
    )
    # Where the connectors get the simulated tenants' credentials: "api" — the ledger API's bootstrap
    # file seeds them encrypted and every sync request carries them sealed under `secrets_key`;
    # "files" — the connectors' own integrations files (the fallback path).
    credentials_via: Literal["api", "files"] = "api"
    # One Fernet key shared by the ledger API and both connectors (generated per stack).
    secrets_key: str = field(
        default_factory=lambda: base64.urlsafe_b64encode(secrets.token_bytes(32)).decode()
    )
    # Reconciler processes in one consumer group ("reconciler", "reconciler-2", …; issue 12 item 3).
    reconcilers: int = 1
    # Partitions of every topic the stack creates (every topic is keyed by tenant id).
    partitions: int = 3


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log_path: Path
    argv: list[str] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)  # on top of os.environ


class PortInUse(RuntimeError):
    """The port a stack needs is taken (often a ledger API of an earlier run still serving)."""


# What a service logs once it consumes (its "ready line"); `restart` waits for it.
READY_EVENT = re.compile(rb'"event":\s*"[\w-]+\.(?:started|consuming|ready)"')
SIM_KEYS = {"graph-sim": "intune", "jamf-sim": "jamf"}


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config
        self.procs: dict[str, Proc] = {}
        self.broker: infra.Broker | None = None
        self.database: infra.Database | None = None
        self.database_url = ""
        self.sims: dict[str, dict[str, Any]] = {}
        self.links: list[dict[str, Any]] = []

    # --- start ---------------------------------------------------------------------------------

    def start(self) -> Stack:
        """Start everything; if any part fails, stop what was started, then raise."""
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def preflight(self) -> None:
        """Refuse to start over a leftover database server or on a taken API port (one clear line)."""
        pgdata = self.config.root / "pgdata"
        if pid := infra.leftover_postgres(pgdata.resolve()):
            raise infra.LeftoverServer(
                f"a PostgreSQL server (pid {pid}) of an earlier run still uses {pgdata}; "
                f"stop it (kill {pid}) and start again"
            )
        if infra.port_in_use(self.config.api_port):
            raise PortInUse(
                f"port {self.config.api_port} is already in use (a ledger API of an earlier run?); "
                "stop that process and start again"
            )

    def _start(self) -> None:
        self.preflight()
        root = self.config.root
        if root.exists():
            shutil.rmtree(root)  # the embedded broker keeps nothing: start the database fresh too
        (root / "logs").mkdir(parents=True)
        self.broker = infra.start_broker(root / "logs")
        self.database = infra.start_database(root / "pgdata")
        self.database_url = asyncio.run(self._prepare())
        if self.config.intune_devices or self.config.intune_samples:
            self._start_graph_sim()
        if self.config.jamf_computers or self.config.jamf_mobiles:
            self._start_jamf_sim()
        self._write_configs()
        self._start_services()
        self.wait_ready()

    async def _prepare(self) -> str:
        assert self.broker and self.database
        await testing.create_all_topics(
            self.broker.bootstrap_servers, self.config.topic_prefix, self.config.partitions
        )
        conn = await asyncpg.connect(self.database.url)
        try:
            if not await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = 'ledger'"):
                await conn.execute("CREATE DATABASE ledger")
        finally:
            await conn.close()
        return testing.with_database(self.database.url, "ledger")

    def _spawn(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> Proc:
        log_path = self.config.root / "logs" / f"{name}.log"
        out: IO[bytes] = log_path.open("ab")
        popen = subprocess.Popen(
            argv,
            stdout=subprocess.PIPE if name.endswith("-sim") else out,
            stderr=out,
            env={**os.environ, **(env or {})},
            cwd=self.config.root,
            start_new_session=True,
            preexec_fn=infra.die_with_parent(),  # dies with the stack's process, even on SIGKILL
        )
        out.close()  # the child has its own descriptor
        proc = Proc(name, popen, log_path, list(argv), dict(env or {}))
        self.procs[name] = proc
        return proc

    def _ready_line(self, proc: Proc, timeout: float = 60) -> dict[str, Any]:
        """The first JSON line on the simulator's stdout, read from the raw descriptor with a
        deadline (a buffered `readline()` could hang, or hide a line from `select`)."""
        assert proc.popen.stdout is not None
        fd = proc.popen.stdout.fileno()
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(fd, selectors.EVENT_READ)
            while (left := deadline - time.monotonic()) > 0:
                if not sel.select(left):
                    break
                chunk = os.read(fd, 65536)
                if not chunk:
                    proc.popen.wait(5)
                    raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}")
                buf += chunk
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    try:
                        return dict(json.loads(line))
                    except json.JSONDecodeError:
                        continue
        raise TimeoutError(f"{proc.name} printed no ready line in {timeout}s")

    # --- faults: kill and restart --------------------------------------------------------------

    def kill(self, name: str) -> None:
        """SIGKILL one process of the stack ("reconciler", "ledger-api", "intune-connector", …)."""
        p = self.procs[name].popen
        if p.poll() is None:
            p.kill()
        p.wait(10)

    def restart(self, name: str, timeout: float = 60) -> None:
        """Start a process again with the same argv and environment and wait for its ready line:
        the API's /readyz, a service's "….started"/"….consuming" log line, a simulator's JSON line.

        A simulator keeps its tenant in memory: it comes back on the same port with the devices of
        its seed (changes made through its control API are gone)."""
        old = self.procs[name]
        if old.popen.poll() is None:
            self.kill(name)
        argv = list(old.argv)
        if name in SIM_KEYS:
            port = self.sims[SIM_KEYS[name]]["base_url"].rsplit(":", 1)[1]
            argv += ["--port", port]
        offset = old.log_path.stat().st_size if old.log_path.exists() else 0
        new = self._spawn(name, argv, old.env)
        if name in SIM_KEYS:
            self.sims[SIM_KEYS[name]] = self._ready_line(new, timeout)
        elif name == "ledger-api":
            self.wait_ready(timeout)
        else:
            self._wait_log_ready(new, offset, timeout)
        log.info("stack.restarted", name=name, pid=new.popen.pid)

    def _wait_log_ready(self, proc: Proc, offset: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.popen.poll() is not None:
                raise RuntimeError(f"{proc.name} exited ({proc.popen.returncode}); see {proc.log_path}")
            with proc.log_path.open("rb") as f:
                f.seek(offset)
                if READY_EVENT.search(f.read()):
                    return
            time.sleep(0.1)  # polling the log file for the ready line
        raise TimeoutError(f"{proc.name} logged no ready line in {timeout}s; see {proc.log_path}")

    def restart_database(self, *, crash: bool = True) -> None:
        """SIGKILL (crash=True) or stop the embedded PostgreSQL and start it on the same data directory.

        There is no `restart_broker`: the embedded Tansu keeps its topics in memory only, so a
        restarted broker would come back empty — not a restart any real deployment sees."""
        if self.database is None or self.database.data_dir is None:
            raise RuntimeError("only the embedded PostgreSQL can be restarted (DATABASE_URL is external)")
        self.database.restart(crash=crash)

    def _start_graph_sim(self) -> None:
        argv = [sys.executable, "-m", "mdm_sim", "graph", "--cert-dir", str(self.config.root / "certs")]
        argv += ["--devices", str(self.config.intune_devices), "--seed", str(self.config.seed)]
        for d in self.config.intune_samples:
            argv += ["--include-samples", str(d)]
        if self.config.shared_macs:
            argv += ["--shared-macs", str(self.config.shared_macs), "--shared-seed", str(self.config.seed)]
        self.sims["intune"] = self._ready_line(self._spawn("graph-sim", argv))
        log.info(
            "graph_sim.ready",
            base_url=self.sims["intune"]["base_url"],
            devices=self.sims["intune"]["devices"],
        )

    def _start_jamf_sim(self) -> None:
        argv = [sys.executable, "-m", "mdm_sim", "jamf", "--cert-dir", str(self.config.root / "certs")]
        argv += ["--computers", str(self.config.jamf_computers), "--mobiles", str(self.config.jamf_mobiles)]
        argv += ["--seed", str(self.config.seed), *self.config.jamf_sim_args]
        if self.config.shared_macs:
            argv += ["--shared-macs", str(self.config.shared_macs), "--shared-seed", str(self.config.seed)]
        self.sims["jamf"] = self._ready_line(self._spawn("jamf-sim", argv))
        log.info("jamf_sim.ready", base_url=self.sims["jamf"]["base_url"])

    def _write_configs(self) -> None:
        root, cfg = self.config.root, self.config
        integrations, self.links = [], []
        if "intune" in self.sims:
            s = self.sims["intune"]
            intune = {
                INTUNE_INTEGRATION: {
                    k: s[k]
                    for k in (
                        "azure_tenant_id",
                        "client_id",
                        "client_secret",
                        "authority_url",
                        "graph_base_url",
                    )
                }
                | {"ca_bundle": s["ca"]}
            }
            integrations.append(
                self._integration(
                    root / "intune-integrations.json",
                    intune,
                    {
                        "integration_id": INTUNE_INTEGRATION,
                        "kind": "intune",
                        "display_name": "Contoso Intune",
                    },
                )
            )
            self.links.append(self._link("ml-intune-demo", INTUNE_INTEGRATION, "intune"))
        if "jamf" in self.sims:
            s = self.sims["jamf"]
            jamf = {
                JAMF_INTEGRATION: {
                    "base_url": s["base_url"],
                    "client_id": s["client_id"],
                    "client_secret": s["client_secret"],
                    "ca_bundle": s["ca"],
                }
            }
            integrations.append(
                self._integration(
                    root / "jamf-integrations.json",
                    jamf,
                    {"integration_id": JAMF_INTEGRATION, "kind": "jamf_pro", "display_name": ""},
                )
            )
            self.links.append(self._link("ml-jamf-demo", JAMF_INTEGRATION, "jamf_pro"))
        tenant = {
            "tenant_id": TENANT,
            "name": "Demo Company",
            "time_zone": "Asia/Tokyo",
            "api_tokens": [cfg.token],
            "integrations": integrations,
            "master_links": self.links,
        }
        _write_secret(root / "ledger-bootstrap.json", {"tenants": [tenant]})

    def _integration(self, path: Path, entries: dict[str, Any], seed: dict[str, Any]) -> dict[str, Any]:
        """The bootstrap entry of an integration; its credentials go to the API's bootstrap file
        (sealed there) or, on the fallback path, to the connector's integrations file."""
        if self.config.credentials_via == "files":
            _write_secret(path, entries)
            return seed
        return seed | {"credentials": entries[seed["integration_id"]]}

    def _link(self, link_id: str, integration_id: str, kind: str) -> dict[str, Any]:
        return {
            "master_link_id": link_id,
            "integration_id": integration_id,
            "mdm_kind": kind,
            "matching_key": self.config.matching_key,
            "asset_number_source": self.config.asset_number_source,
        }

    def _start_services(self) -> None:
        assert self.broker
        root, cfg = self.config.root, self.config
        common = {"kafka_bootstrap_servers": self.broker.bootstrap_servers, "topic_prefix": cfg.topic_prefix}
        py = sys.executable

        def env(prefix: str, **values: object) -> dict[str, str]:
            return {f"{prefix}{k.upper()}": str(v) for k, v in (common | values).items()}

        timeout = cfg.session_timeout_ms
        for n in range(1, cfg.reconcilers + 1):  # one consumer group: partitions split between them
            self._spawn(
                "reconciler" if n == 1 else f"reconciler-{n}",
                [py, "-m", "reconciler"],
                env("RECONCILER_", database_url=self.database_url, kafka_session_timeout_ms=timeout),
            )
        self._spawn(
            "ledger-api",
            [py, "-m", "ledger_api"],
            env(
                "LEDGER_API_",
                database_url=self.database_url,
                bootstrap_file=root / "ledger-bootstrap.json",
                port=cfg.api_port,
                kafka_session_timeout_ms=timeout,
                secrets_key=cfg.secrets_key,
                allow_private_mdm_hosts=True,  # R-X2: the simulators listen on 127.0.0.1
            ),
        )
        files = cfg.credentials_via == "files"
        if "intune" in self.sims:
            self._spawn(
                "intune-connector",
                [py, "-m", "intune_connector"],
                env(
                    "INTUNE_CONNECTOR_",
                    kafka_session_timeout_ms=timeout,
                    secrets_key=cfg.secrets_key,
                    **({"integrations_file": root / "intune-integrations.json"} if files else {}),
                ),
            )
        if "jamf" in self.sims:
            self._spawn(
                "jamf-connector",
                [py, "-m", "jamf_connector"],
                env(
                    "JAMF_CONNECTOR_",
                    kafka_session_timeout_ms=timeout,
                    secrets_key=cfg.secrets_key,
                    **({"integrations_file": root / "jamf-integrations.json"} if files else {}),
                ),
            )
        # The administrators' web console (issue 13): a client of the API's public HTTP API only.
        console_port = 8080 if cfg.api_port == 8000 and not infra.port_in_use(8080) else infra.free_port()
        self.console_url = f"http://127.0.0.1:{console_port}"
        self._spawn(
            "console",
            [py, "-m", "ledger_console"],
            {"LEDGER_CONSOLE_API_URL": self.api_url, "LEDGER_CONSOLE_PORT": str(console_port)},
        )

    # --- use -----------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.config.api_port}"

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.api_url,
            headers={"Authorization": f"Bearer {self.config.token}"},
            timeout=30,
            trust_env=False,
        )

    def check_alive(self) -> None:
        for p in self.procs.values():
            if p.popen.poll() is not None:
                tail = p.log_path.read_text(errors="replace")[-3000:]
                raise RuntimeError(f"{p.name} exited with {p.popen.returncode}; log tail:\n{tail}")

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        with httpx.Client(trust_env=False, timeout=2) as c:
            while time.monotonic() < deadline:
                self.check_alive()
                try:
                    if c.get(f"{self.api_url}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise TimeoutError(f"ledger API not ready in {timeout}s; logs in {self.config.root / 'logs'}")

    def sync(self, link_id: str) -> dict[str, Any]:
        with self.client() as c:
            r = c.post(f"/v1/master-links/{link_id}/sync", json={})
            r.raise_for_status()
            return dict(r.json())

    def wait_run(self, sync_run_id: str, timeout: float = 600) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while time.monotonic() < deadline:
                run: dict[str, Any] = c.get(f"/v1/sync-runs/{sync_run_id}").json()
                if run.get("status") in ("completed", "failed"):
                    return run
                self.check_alive()
                time.sleep(0.05)
        raise TimeoutError(f"sync run {sync_run_id} did not finish in {timeout}s")

    def count_devices(self, **filters: str) -> int:
        n, cursor = 0, None
        with self.client() as c:
            while True:
                params = {"limit": "1000", "fields": "device_id", **filters} | (
                    {"cursor": cursor} if cursor else {}
                )
                body = c.get("/v1/devices", params=params).raise_for_status().json()
                n += len(body["items"])
                cursor = body.get("next_cursor")
                if not cursor:
                    return n

    # --- stop ----------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process this stack started (services, simulators, database, broker); idempotent."""
        for p in reversed(list(self.procs.values())):
            if p.popen.poll() is None:
                p.popen.terminate()
        for p in self.procs.values():
            try:
                p.popen.wait(10)
            except subprocess.TimeoutExpired:
                p.popen.kill()
                p.popen.wait(5)
            if p.popen.stdout:
                p.popen.stdout.close()
        if self.database:
            self.database.stop()
        if self.broker:
            self.broker.stop()

    def __enter__(self) -> Stack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _write_secret(path: Path, data: object) -> None:
    """Config files that hold credentials are readable by their owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
