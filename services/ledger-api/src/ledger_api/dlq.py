"""Dead letters, for the operator (issue 9 item 7): list what was dead-lettered, and re-drive it to
its original topic once the cause is fixed.

    python -m ledger_api.dlq list [--topic mdm.snapshots.v1.dlq] [--bootstrap HOST:PORT] [--prefix P]
    python -m ledger_api.dlq redrive --topic mdm.snapshots.v1.dlq [--offsets 12,0:40,1:41] [--dry-run]

`list` prints one JSON line per dead-lettered record — its topic, partition, offset, key, the
`x-error`, `x-original-topic/partition/offset`, `x-consumer` and `x-redriven-from` headers, the
value's size and a short preview — of every `*.dlq` topic (or the one `--topic` names), read from
the start up to the end offsets taken when the command starts (it never waits for silence).

`redrive` re-publishes the ORIGINAL value (bytes unchanged) and key of each selected record to its
`x-original-topic`, with the header `x-redriven-from: <dlq topic>:<partition>:<offset>`, and prints
one JSON line per record (`redriven` or `skipped` with the reason: no original topic, no value).
`--offsets` selects records by `offset` (partition 0) or `partition:offset`; without it, every
record of the topic is re-driven. Nothing is removed from the dead-letter topic (it is the record
of what happened); a record that is still poison after the fix is dead-lettered again.

Re-driving a record twice is harmless: every consumer is idempotent (SPEC §9) — the ledger API's
projection skips a device change whose version it has, a history entry whose event id it has, and a
terminal sync run; the reconciler skips a command or snapshot whose event id it has processed. So an
operator who is unsure whether a redrive went through may simply run it again.

Topics are named without the deployment prefix (`--prefix`, default `LEDGER_API_TOPIC_PREFIX`); the
broker is `--bootstrap` (default `LEDGER_API_KAFKA_BOOTSTRAP_SERVERS`, else 127.0.0.1:9092).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition

from ledger_contracts import topics

PREVIEW = 160
REDRIVEN_FROM = "x-redriven-from"
_HEADERS = ("x-error", "x-original-topic", "x-original-partition", "x-original-offset", "x-consumer")


@dataclass(frozen=True)
class DeadLetter:
    topic: str  # as deployed (with the prefix)
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: dict[str, str]

    @property
    def original_topic(self) -> str | None:
        return self.headers.get("x-original-topic")

    def describe(self) -> dict[str, Any]:
        value = self.value
        return {
            "topic": self.topic,
            "partition": self.partition,
            "offset": self.offset,
            "key": self.key.decode(errors="replace") if self.key is not None else None,
            **{h: self.headers.get(h) for h in (*_HEADERS, REDRIVEN_FROM)},
            "value_bytes": len(value) if value is not None else None,
            "value_preview": value[:PREVIEW].decode(errors="replace") if value is not None else None,
        }


def dlq_topics(prefix: str) -> list[str]:
    return [topics.named(topics.dlq(t), prefix) for t in topics.ALL]


def _deployed(topic: str, prefix: str) -> str:
    return topic if prefix and topic.startswith(prefix) else topics.named(topic, prefix)


def _record(r: ConsumerRecord[bytes, bytes]) -> DeadLetter:
    headers = {k: v.decode(errors="replace") for k, v in (r.headers or ())}
    return DeadLetter(r.topic, r.partition, r.offset, r.key, r.value, headers)


async def read(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every record of `topic` from its start up to its end offsets as of now ([] when absent)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        out: list[DeadLetter] = []
        pending = {tp for tp in tps if ends[tp] > 0}
        for tp in list(pending):
            if await consumer.position(tp) >= ends[tp]:
                pending.discard(tp)
        while pending:
            batch = await consumer.getmany(*pending, timeout_ms=1000)
            for tp, records in batch.items():
                out.extend(_record(r) for r in records if r.offset < ends[tp])
            for tp in list(pending):
                if await consumer.position(tp) >= ends[tp]:
                    pending.discard(tp)
        return sorted(out, key=lambda d: (d.partition, d.offset))
    finally:
        await consumer.stop()


def _select(records: list[DeadLetter], offsets: Sequence[str] | None) -> tuple[list[DeadLetter], list[str]]:
    """The records named by `offsets` (`offset` = partition 0, or `partition:offset`), and the
    names that match none."""
    if not offsets:
        return records, []
    wanted: dict[tuple[int, int], str] = {}
    for name in offsets:
        part, _, off = name.rpartition(":")
        wanted[(int(part or 0), int(off))] = name
    by_position = {(d.partition, d.offset): d for d in records}
    chosen = [by_position[p] for p in sorted(wanted) if p in by_position]
    return chosen, [wanted[p] for p in sorted(wanted) if p not in by_position]


async def redrive(
    bootstrap: str, records: Sequence[DeadLetter], *, dry_run: bool = False
) -> list[dict[str, Any]]:
    """Re-publish each record's original value and key to its original topic (header
    `x-redriven-from`); one report per record."""
    reports: list[dict[str, Any]] = []
    producer = None if dry_run else AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    if producer is not None:
        await producer.start()
    try:
        for d in records:
            where = f"{d.topic}:{d.partition}:{d.offset}"
            report: dict[str, Any] = {"from": where, "to": d.original_topic}
            if d.original_topic is None:
                reports.append({**report, "outcome": "skipped", "reason": "no x-original-topic header"})
                continue
            if d.value is None:
                reports.append({**report, "outcome": "skipped", "reason": "no value to re-drive"})
                continue
            if producer is not None:
                headers = [
                    (REDRIVEN_FROM, where.encode()),
                    ("x-redriven-at", datetime.now(UTC).isoformat().encode()),
                ]
                await producer.send_and_wait(d.original_topic, value=d.value, key=d.key, headers=headers)
            reports.append({**report, "outcome": "dry_run" if dry_run else "redriven"})
    finally:
        if producer is not None:
            await producer.stop()
    return reports


def _print(out: TextIO, doc: dict[str, Any]) -> None:
    out.write(json.dumps(doc, ensure_ascii=False) + "\n")


async def run(argv: Sequence[str], out: TextIO = sys.stdout, err: TextIO = sys.stderr) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger_api.dlq", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--bootstrap", default=os.environ.get("LEDGER_API_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--prefix", default=os.environ.get("LEDGER_API_TOPIC_PREFIX", ""))
    sub = parser.add_subparsers(dest="command", required=True)
    listing = sub.add_parser("list", help="show dead-lettered records")
    listing.add_argument("--topic", help="one dead-letter topic (default: every *.dlq topic)")
    again = sub.add_parser("redrive", help="re-publish dead-lettered records to their original topic")
    again.add_argument("--topic", required=True, help="the dead-letter topic, e.g. mdm.snapshots.v1.dlq")
    again.add_argument("--offsets", help="comma-separated offset or partition:offset (default: all)")
    again.add_argument("--dry-run", action="store_true", help="say what would be re-driven, publish nothing")
    args = parser.parse_args(argv)

    if args.command == "list":
        chosen = [_deployed(args.topic, args.prefix)] if args.topic else dlq_topics(args.prefix)
        for topic in chosen:
            for d in await read(args.bootstrap, topic):
                _print(out, d.describe())
        return 0

    topic = _deployed(args.topic, args.prefix)
    if not topic.endswith(".dlq"):
        err.write(f"{args.topic!r} is not a dead-letter topic (*.dlq)\n")
        return 2
    try:
        offsets = [o.strip() for o in args.offsets.split(",") if o.strip()] if args.offsets else None
        records, unknown = _select(await read(args.bootstrap, topic), offsets)
    except ValueError:
        err.write(f"--offsets {args.offsets!r}: expected offset or partition:offset, comma-separated\n")
        return 2
    if unknown:
        err.write(f"no dead-lettered record at {', '.join(unknown)} of {topic}; nothing re-driven\n")
        return 1
    for report in await redrive(args.bootstrap, records, dry_run=args.dry_run):
        _print(out, report)
    return 0


def main() -> None:
    sys.exit(asyncio.run(run(sys.argv[1:])))


if __name__ == "__main__":
    main()
