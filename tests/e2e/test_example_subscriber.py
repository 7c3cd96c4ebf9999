"""End to end: the example subscriber other teams copy (examples/subscriber, issue 8 item 3) runs
against the real stack, consumes `ledger.changes.v1` and sees every device of the demo tenant
(SPEC §9: keyed by tenant, at least once, idempotent by (device_id, version)); its manual acks
commit its offsets, so a restart in the same group resumes after what it handled."""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

import pytest

from devstack.infra import free_port
from devstack.stack import Stack, StackConfig

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
DEVICES = 12


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig(
        root=Path(tmp_path_factory.mktemp("e2e")) / "stack",
        intune_devices=DEVICES,
        api_port=free_port(),
        session_timeout_ms=2000,
        topic_prefix="ex.",  # the subscriber must honour a deployment's prefix
    )
    with Stack(config) as s:
        yield s


class Subscriber:
    """`python -m examples.subscriber` as a process; its stdout lines (JSON) arrive on a queue."""

    def __init__(self, stack: Stack, group: str, log: Path) -> None:
        assert stack.broker is not None
        self.log = log
        argv = [sys.executable, "-m", "examples.subscriber", "--bootstrap", stack.broker.bootstrap_servers]
        argv += ["--topic-prefix", stack.config.topic_prefix, "--group", group]
        argv += ["--session-timeout-ms", "2000"]
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=log.open("ab"), start_new_session=True
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        assert self.popen.stdout is not None
        threading.Thread(target=self._read, args=(self.popen.stdout,), daemon=True).start()

    def _read(self, out: IO[bytes]) -> None:
        for raw in out:
            self.lines.put(json.loads(raw))
        self.lines.put(None)  # end of stream: the process closed stdout

    def next(self, deadline: float) -> dict[str, Any]:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"the subscriber printed nothing more in time; its log: {self.log}")
        try:
            line = self.lines.get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError(f"the subscriber printed nothing more in time; its log: {self.log}") from None
        if line is None:
            tail = self.log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"the subscriber exited ({self.popen.wait()}):\n{tail}")
        return line

    def stop(self) -> int:
        if self.popen.poll() is None:
            self.popen.terminate()  # FastStream leaves the group and exits on SIGTERM
        try:
            return self.popen.wait(20)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            return self.popen.wait()


def device_ids(stack: Stack) -> set[str]:
    ids, cursor = set(), None
    with stack.client() as c:
        while True:
            params = {"limit": "1000", "fields": "device_id"} | ({"cursor": cursor} if cursor else {})
            body = c.get("/v1/devices", params=params).raise_for_status().json()
            ids |= {d["device_id"] for d in body["items"]}
            cursor = body.get("next_cursor")
            if not cursor:
                return ids


def test_example_subscriber_sees_every_device_of_the_demo(stack: Stack) -> None:
    run = stack.wait_run(stack.sync("ml-intune-demo")["sync_run_id"], timeout=60)
    assert run["status"] == "completed", run
    listed = device_ids(stack)
    assert len(listed) == DEVICES

    group = f"example-{uuid.uuid4().hex[:8]}"
    log = stack.config.root / "logs" / "example-subscriber.log"
    sub = Subscriber(stack, group, log)
    created: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + 40
    try:
        while not listed <= set(created):  # until every device the API lists has been seen
            line = sub.next(deadline)
            assert line["tenant_id"] == "demo" and line["version"] >= 1, line
            if line["change"] == "created":
                assert line["device_id"] not in created, f"applied twice: {line}"
                created[line["device_id"]] = line
    finally:
        rc = sub.stop()
    assert rc == 0, f"the subscriber did not stop cleanly; its log: {log}"
    assert {created[d]["source"] for d in listed} == {"intune"}

    # Its acks were committed: restarted in the same group, the first thing it prints is a change
    # made after it stopped, not a replay of the devices it already handled.
    with stack.client() as c:
        r = c.post("/v1/devices", json={"asset_number": "EX-1", "serial_number": "EX-SERIAL-1"})
        assert r.status_code in (201, 202), r.text
        new_id = r.json()["device_id"]
    again = Subscriber(stack, group, log)
    try:
        first = again.next(time.monotonic() + 40)
    finally:
        again.stop()
    assert (first["change"], first["device_id"], first["source"]) == ("created", new_id, "manual")
