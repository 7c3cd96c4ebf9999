"""R-M12, the API side, against real PostgreSQL and the real broker: one generation counter per
(tenant, integration), raised by a link's creation, a settings change and an unlink; the link's
MasterLinkChanged is published before its first SyncRequested; every SyncRequested carries the
current generation; a refused publish rolls the change back (no outbox: publish inside the
transaction, answer only after the broker acknowledged) and its reserved number is skipped."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.fernet import Fernet
from ledger_api_testing import sync_run_summary
from pydantic import SecretStr

from ledger_api.adapters import kafka
from ledger_api.scheduler import Scheduler
from ledger_api.settings import Settings
from ledger_contracts import Event, MasterLinkChanged, SyncRequested, UnlinkMasterLink, codec, topics

pytestmark = [pytest.mark.integration, pytest.mark.rule("R-M12")]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"secrets_key": SecretStr(Fernet.generate_key().decode())})


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, Event]]:
    """Every event the app publishes, in the order the broker acknowledged them (both topics)."""
    seen: list[tuple[str, Event]] = []
    real = kafka.publish

    async def recording(producer: Any, topic: str, event: Event) -> None:
        await real(producer, topic, event)
        seen.append((topic.rsplit(".", 2)[-2] if "." in topic else topic, event))

    monkeypatch.setattr(kafka, "publish", recording)
    return seen


def kinds(published: list[tuple[str, Event]]) -> list[tuple[str, int]]:
    out = []
    for _, event in published:
        if isinstance(event, MasterLinkChanged):
            out.append((f"changed:{event.change}", event.master_link.generation))
        elif isinstance(event, SyncRequested):
            out.append(
                (f"sync:{event.trigger}{':dry' if event.dry_run else ''}", event.master_link.generation)
            )
        elif isinstance(event, UnlinkMasterLink):
            out.append(("unlink", event.generation))
    return out


async def generation_counter(db: Any, integration_id: str) -> int:
    return int(
        await db.fetchval(
            "SELECT link_generation FROM ledger.integrations"
            " WHERE tenant_id = 'acme' AND integration_id = $1",
            integration_id,
        )
    )


async def test_link_unlink_relink_and_every_sync_carry_the_generation(
    app, client, db, published, project
) -> None:
    created = await client.post(
        "/v1/master-links", json={"integration_id": "int-jamf-1", "master_link_id": "ml-j1"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["generation"] == 1
    await client.post("/v1/master-links/ml-j1/sync")
    await client.post("/v1/master-links/ml-j1/sync", json={"dry_run": True})
    await db.execute(
        "UPDATE ledger.master_links SET next_run_at = now() - interval '1 minute'"
        " WHERE master_link_id = 'ml-j1'"
    )
    state = app.state.ledger
    assert await Scheduler(state.pool, state.sync_requests, clock=state.clock).tick() == 1
    plan = (
        await client.post("/v1/master-links/ml-j1/settings/plan", json={"asset_number_source": "device_name"})
    ).json()
    await project(sync_run_summary("acme", uuid.UUID(plan["plan_id"]), "completed", master_link_id="ml-j1"))
    applied = await client.post("/v1/master-links/ml-j1/settings/apply", json={"plan_id": plan["plan_id"]})
    assert applied.status_code == 200 and applied.json()["generation"] == 2
    await client.post("/v1/master-links/ml-j1/sync")
    unlinked = await client.delete("/v1/master-links/ml-j1?keep_devices=true")
    assert unlinked.status_code == 202
    relinked = await client.post(
        "/v1/master-links", json={"integration_id": "int-jamf-1", "master_link_id": "ml-j2"}
    )
    assert relinked.status_code == 201 and relinked.json()["generation"] == 4

    assert kinds(published) == [
        ("changed:created", 1),  # before the link's first SyncRequested
        ("sync:link_created", 1),
        ("sync:manual", 1),
        ("sync:manual:dry", 1),
        ("sync:schedule", 1),
        ("sync:manual:dry", 1),  # the settings plan: new settings, current generation
        ("changed:settings_changed", 2),
        ("sync:manual", 2),
        ("unlink", 3),  # the link's last + 1
        ("changed:created", 4),
        ("sync:link_created", 4),
    ]
    topics_of = {kind: topic for (topic, _), (kind, _) in zip(published, kinds(published), strict=True)}
    assert topics_of["changed:created"] == topics_of["unlink"] == "commands"
    assert topics_of["sync:manual"] == "sync-requests"
    assert await generation_counter(db, "int-jamf-1") == 4


async def test_the_first_sync_request_follows_its_link_on_the_wire(client, tap) -> None:
    """Read back from the broker: MasterLinkChanged(created) is on ledger.commands.v1 with the
    same settings the first SyncRequested carries, and was acknowledged before it."""
    created = (await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"})).json()
    [command] = await (await tap(topics.COMMANDS)).take(1)
    [request] = await (await tap(topics.SYNC_REQUESTS)).take(1)
    changed = codec.decode(codec.command_adapter, command.value)
    sync = codec.decode(codec.sync_request_adapter, request.value)
    assert isinstance(changed, MasterLinkChanged) and changed.change == "created" and command.key == b"acme"
    assert changed.master_link == sync.master_link and sync.master_link.generation == 1
    assert str(sync.sync_run_id) == created["sync_run"]["sync_run_id"]
    assert command.timestamp <= request.timestamp


async def test_a_seeded_link_is_legacy_generation_0_and_its_unlink_is_1(client, db, published) -> None:
    await client.post("/v1/master-links/ml-intune-1/sync")
    await client.delete("/v1/master-links/ml-intune-1?keep_devices=false")
    again = (await client.post("/v1/master-links", json={"integration_id": "int-intune-1"})).json()
    assert again["generation"] == 2
    assert kinds(published) == [
        ("sync:manual", 0),
        ("unlink", 1),
        ("changed:created", 2),
        ("sync:link_created", 2),
    ]


async def test_a_refused_publish_changes_nothing_and_its_generation_is_never_reused(
    app, client, db, project, error
) -> None:
    state = app.state.ledger
    plan = (
        await client.post("/v1/master-links/ml-intune-1/settings/plan", json={"asset_number_source": "uuid"})
    ).json()
    await project(sync_run_summary("acme", uuid.UUID(plan["plan_id"]), "completed"))
    runs_before = await db.fetchval("SELECT count(*) FROM ledger.sync_runs")
    producer, state.producer = state.producer, None
    try:
        error(
            await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"}),
            503,
            "broker_unavailable",
        )
        error(
            await client.post(
                "/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": plan["plan_id"]}
            ),
            503,
            "broker_unavailable",
        )
        error(
            await client.delete("/v1/master-links/ml-intune-1?keep_devices=true"), 503, "broker_unavailable"
        )
        error(
            await client.post(
                "/v1/master-links/ml-intune-1/settings/plan", json={"asset_number_source": "uuid"}
            ),
            503,
            "broker_unavailable",
        )
    finally:
        state.producer = producer
    # The numbers were reserved (committed) before each change's transaction: skipped, never reused.
    assert await generation_counter(db, "int-jamf-1") == 1
    assert await generation_counter(db, "int-intune-1") == 2
    link = (await client.get("/v1/master-links/ml-intune-1")).json()
    assert (link["status"], link["generation"], link["asset_number_source"]) == ("active", 0, "device_name")
    assert await db.fetchval("SELECT count(*) FROM ledger.master_links") == 1
    assert await db.fetchval("SELECT count(*) FROM ledger.sync_runs") == runs_before
    assert (
        await db.fetchval("SELECT count(*) FROM ledger.audit_log WHERE action LIKE 'master_link.%'") == 1
    )  # the plan
    # With the broker back, the same plan applies.
    ok = await client.post("/v1/master-links/ml-intune-1/settings/apply", json={"plan_id": plan["plan_id"]})
    assert ok.status_code == 200 and ok.json()["generation"] == 3
    created = await client.post("/v1/master-links", json={"integration_id": "int-jamf-1"})
    assert created.status_code == 201 and created.json()["generation"] == 2


async def test_an_integration_deleted_and_created_again_continues_its_counter(client, db, published) -> None:
    await client.delete("/v1/master-links/ml-intune-1?keep_devices=true")  # generation 1
    assert (await client.delete("/v1/integrations/int-intune-1")).status_code == 204
    body = {"kind": "intune", "integration_id": "int-intune-1", "azure_tenant_id": "t", "client_id": "c",
            "client_secret": "again-Secret-0001"}  # fmt: skip
    assert (await client.post("/v1/integrations", json=body)).status_code == 201
    link = (await client.post("/v1/master-links", json={"integration_id": "int-intune-1"})).json()
    assert link["generation"] == 2  # not 1: the reconciler would refuse it as superseded
    assert kinds(published)[-2:] == [("changed:created", 2), ("sync:link_created", 2)]
