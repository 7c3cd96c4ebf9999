"""Issue 9 item 7: `python -m ledger_api.dlq list|redrive` against the embedded broker and the real
projection. A poison record dead-lettered by the projection is listed with its error and origin; a
record dead-lettered by a consumer bug, once re-driven, is applied; re-driving it twice changes
nothing more (idempotent consumers)."""

from __future__ import annotations

import io
import json
import uuid
from typing import Any

import asyncpg
import httpx
import pytest
from ledger_api_testing import device_changed

from devstack.testing import wait_for
from ledger_api import dlq
from ledger_contracts import codec, topics

pytestmark = pytest.mark.integration


async def _cli(bootstrap: str, prefix: str, *argv: str) -> tuple[int, list[dict[str, Any]], str]:
    out, err = io.StringIO(), io.StringIO()
    code = await dlq.run(["--bootstrap", bootstrap, "--prefix", prefix, *argv], out, err)
    return code, [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


async def test_list_shows_what_the_projection_dead_lettered(
    app: Any, kafka: tuple[str, str], publish: Any, tap: Any
) -> None:
    bootstrap, prefix = kafka
    await publish.raw(topics.CHANGES, b'{"type": "device_changed", "broken": ', key=b"acme")
    dead = await tap(topics.dlq(topics.CHANGES))
    await dead.take(1)

    code, lines, _ = await _cli(bootstrap, prefix, "list")
    assert code == 0
    [line] = [d for d in lines if d["topic"] == topics.named(topics.dlq(topics.CHANGES), prefix)]
    assert line["x-original-topic"] == topics.named(topics.CHANGES, prefix)
    assert line["x-original-offset"] is not None and line["x-consumer"] == "ledger-api"
    assert line["x-error"] and line["key"] == "acme"
    assert line["value_preview"] == '{"type": "device_changed", "broken": '
    assert line["x-redriven-from"] is None
    # --topic names one topic, without the deployment prefix
    code, only, _ = await _cli(bootstrap, prefix, "list", "--topic", topics.dlq(topics.CHANGES))
    assert code == 0 and only == [line]


async def test_redrive_applies_the_record_once_even_when_redriven_twice(
    app: Any, kafka: tuple[str, str], publish: Any, client: httpx.AsyncClient, db: asyncpg.Connection
) -> None:
    bootstrap, prefix = kafka
    dlq_topic = topics.dlq(topics.CHANGES)
    device_id = uuid.uuid4()
    key, value = codec.encode(device_changed("acme", device_id, 1, asset_number="DLQ-1"))
    # as a consumer with a (since fixed) bug would have dead-lettered it
    headers = codec.dead_letter_headers(
        "a bug, since fixed", publish.topic(topics.CHANGES), 0, 7, "ledger-api"
    )
    await publish.producer.send_and_wait(publish.topic(dlq_topic), value=value, key=key, headers=headers)
    await publish.producer.send_and_wait(publish.topic(dlq_topic), value=b"no origin", key=b"acme")

    code, _, err = await _cli(bootstrap, prefix, "redrive", "--topic", dlq_topic, "--offsets", "0:99")
    assert code == 1 and "0:99" in err
    code, _, err = await _cli(bootstrap, prefix, "redrive", "--topic", topics.CHANGES)
    assert code == 2 and "not a dead-letter topic" in err
    code, dry, _ = await _cli(bootstrap, prefix, "redrive", "--topic", dlq_topic, "--dry-run")
    assert [r["outcome"] for r in dry] == ["dry_run", "skipped"]

    code, reports, _ = await _cli(bootstrap, prefix, "redrive", "--topic", dlq_topic, "--offsets", "0")
    assert code == 0
    assert reports == [
        {
            "from": f"{publish.topic(dlq_topic)}:0:0",
            "to": publish.topic(topics.CHANGES),
            "outcome": "redriven",
        }
    ]

    async def projected() -> bool:
        return (await client.get(f"/v1/devices/{device_id}")).status_code == 200

    await wait_for(projected, timeout=30)
    group = app.state.ledger.settings.consumer_group
    end = await db.fetchval(  # the projection's position once the first copy is projected
        "SELECT sum(next_offset) FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
        group,
        publish.topic(topics.CHANGES),
    )
    # twice, and everything (the record without an origin is skipped, named)
    code, again, _ = await _cli(bootstrap, prefix, "redrive", "--topic", dlq_topic)
    assert code == 0
    assert [r["outcome"] for r in again] == ["redriven", "skipped"]
    assert again[1]["reason"] == "no x-original-topic header"

    async def consumed_both() -> bool:
        n = await db.fetchval(
            "SELECT sum(next_offset) FROM ledger.consumer_offsets WHERE group_id = $1 AND topic = $2",
            group,
            publish.topic(topics.CHANGES),
        )
        return bool(n is not None and end is not None and n >= end + 1)

    await wait_for(consumed_both, timeout=30)  # the second copy was projected (high-watermark, not silence)
    history = (await client.get(f"/v1/devices/{device_id}/history")).json()["items"]
    assert len(history) == 1
    device = (await client.get(f"/v1/devices/{device_id}")).json()
    assert device["version"] == 1 and device["asset_number"] == "DLQ-1"
    # the re-driven records carry where they came from
    code, listed, _ = await _cli(bootstrap, prefix, "list", "--topic", dlq_topic)
    assert [d["offset"] for d in listed] == [0, 1]
