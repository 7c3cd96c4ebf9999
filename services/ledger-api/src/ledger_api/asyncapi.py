"""The subscribers' contract: an AsyncAPI 3.0 document of every topic and the JSON Schema of every
message, generated from `ledger_contracts` (issue 8 item 3; SPEC §9).

FastStream builds the document from a `KafkaBroker` that never connects: one publisher per topic
declaring the topic's message union, and one per dead-letter topic. The result is then rewritten so
a reader sees the contracts' own names: one message per contract class (`LedgerDeviceChanged`, not
`ledger.changes.v1:Message`), the tenant id as the Kafka key of every message, and the error headers
of dead letters (`ledger_contracts.codec.dead_letter_headers`).

    python -m ledger_api.asyncapi --write    # regenerate docs/asyncapi.json and docs/schemas/
    python -m ledger_api.asyncapi --check    # exit 1 when the checked-in files are stale
    python -m ledger_api.asyncapi            # print the document

Nothing happens at import time; `document()` builds the document on each call.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import types
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.specification import AsyncAPI
from pydantic import BaseModel, TypeAdapter

from ledger_contracts import (
    ChangeMessage,
    CommandMessage,
    SnapshotMessage,
    SyncRequestMessage,
    topics,
)

REGENERATE = "python -m ledger_api.asyncapi --write"
DOCUMENT_FILE = "asyncapi.json"
SCHEMAS_DIR = "schemas"
KAFKA_BINDING_VERSION = "0.4.0"
JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

TENANT_KEY = {
    "type": "string",
    "minLength": 1,
    "maxLength": 200,
    "description": "The tenant id (UTF-8), equal to the message's `tenant_id`. Every topic is keyed by "
    "tenant, so all messages of one tenant are in one partition, in the order they were published.",
}

# The headers `ledger_contracts.codec.dead_letter_headers` puts on every dead letter (UTF-8 strings).
DEAD_LETTER_HEADERS: dict[str, Any] = {
    "type": "object",
    "required": ["x-error", "x-original-topic", "x-original-partition", "x-original-offset", "x-consumer"],
    "properties": {
        "x-error": {
            "type": "string",
            "maxLength": 2000,
            "description": "Why the consumer could not handle the record (e.g. the validation errors "
            "naming the field); at most 2,000 characters, never a secret.",
        },
        "x-original-topic": {
            "type": "string",
            "description": "The topic the record was read from, as deployed (with its prefix, if any).",
        },
        "x-original-partition": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The record's partition on the original topic (decimal).",
        },
        "x-original-offset": {
            "type": "string",
            "pattern": "^[0-9]+$",
            "description": "The record's offset on the original topic (decimal).",
        },
        "x-consumer": {
            "type": "string",
            "description": "The service that dead-lettered it (e.g. `reconciler`, `ledger-api`, "
            "`intune-connector`, `jamf-connector`).",
        },
    },
}


@dataclass(frozen=True)
class TopicDoc:
    """One topic of SPEC §9 as the document describes it."""

    topic: str
    union: Any  # the `Annotated[A | B, Field(discriminator="type")]` of ledger_contracts.messages
    union_name: str
    producers: str
    consumers: str
    summary: str

    @property
    def dead_letter_message(self) -> str:
        return self.union_name.removesuffix("Message") + "DeadLetter"


TOPICS: tuple[TopicDoc, ...] = (
    TopicDoc(
        topics.SYNC_REQUESTS,
        SyncRequestMessage,
        "SyncRequestMessage",
        producers="ledger-api (daily schedule, `sync now`, a new master link)",
        consumers="intune-connector, jamf-connector",
        summary="Requests to pull one integration's devices from its MDM. Credentials travel "
        "encrypted (Fernet); the broker never sees a secret.",
    ),
    TopicDoc(
        topics.SNAPSHOTS,
        SnapshotMessage,
        "SnapshotMessage",
        producers="intune-connector, jamf-connector",
        consumers="reconciler",
        summary="What an MDM holds, one sync run at a time: `SyncRunStarted`, one `DeviceObserved` per "
        "device, then `SyncRunCompleted` or `SyncRunFailed` (same partition, so in that order).",
    ),
    TopicDoc(
        topics.COMMANDS,
        CommandMessage,
        "CommandMessage",
        producers="ledger-api (HTTP API, CSV import, master links)",
        consumers="reconciler",
        summary="Manual changes to the ledger and master-link lifecycle commands; the reconciler is "
        "the only writer of the ledger.",
    ),
    TopicDoc(
        topics.CHANGES,
        ChangeMessage,
        "ChangeMessage",
        producers="reconciler",
        consumers="ledger-api (projection) and any other service: see docs/subscribers.md",
        summary="Every change of the ledger: device changes with their version and provenance, sync-run "
        "summaries, conflicts, dry-run plans, rejected commands, CSV imports. The topic other services "
        "subscribe to.",
    ),
)

DESCRIPTION = """\
The topics of the device ledger (SPEC §9), generated from the `ledger_contracts` package.

* **Keys.** Every topic is keyed by tenant: the Kafka key is the tenant id (UTF-8), equal to the
  message's `tenant_id`. One tenant's messages are in one partition, in publishing order.
* **Values.** UTF-8 JSON of one message; the `type` field names the message (a discriminated union
  per topic). Unknown keys are an error (`additionalProperties: false`): a new field is a new
  contract version, announced in the schema.
* **Delivery.** At least once. A subscriber may see a message again after a restart or rebalance;
  `LedgerDeviceChanged` carries `(device_id, version)` so a subscriber applies a change only when its
  version is newer than what it holds.
* **Dead letters.** A record a consumer cannot handle goes, byte for byte and with the same key, to
  the topic's `.dlq` topic with the headers `x-error`, `x-original-topic`, `x-original-partition`,
  `x-original-offset`, `x-consumer`. Nothing is dropped silently.
* **Prefix.** A deployment may prefix every topic (`LEDGER_API_TOPIC_PREFIX`, e.g. `t1a2b.` in tests).
"""


def union_members(union: Any) -> tuple[type[BaseModel], ...]:
    """The contract classes of a topic's `Annotated[A | B | ..., Field(discriminator=...)]`."""
    inner = typing.get_args(union)[0] if typing.get_origin(union) is typing.Annotated else union
    if typing.get_origin(inner) in (typing.Union, types.UnionType):
        members = typing.get_args(inner)
    else:
        members = (inner,)
    assert all(isinstance(m, type) and issubclass(m, BaseModel) for m in members), members
    return members


def build_broker() -> KafkaBroker:
    """A broker that is never started: it only carries the publishers the document describes."""
    broker = KafkaBroker(
        "localhost:9092",
        description="The deployment's Kafka bootstrap servers (`*_KAFKA_BOOTSTRAP_SERVERS`): Apache Kafka, "
        "or the embedded Kafka-compatible broker (Tansu) of `make demo` and the tests.",
    )
    for t in TOPICS:
        broker.publisher(t.topic, title=t.topic, description=t.summary, schema=t.union)
        broker.publisher(
            topics.dlq(t.topic),
            title=topics.dlq(t.topic),
            description=f"Dead letters of `{t.topic}`.",
            schema=bytes,
        )
    return broker


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0 document of every topic and its dead-letter topic."""
    spec = AsyncAPI(
        build_broker(),
        title="Device ledger topics",
        version="1.0.0",
        description=DESCRIPTION,
        schema_version="3.0.0",
    )
    raw: dict[str, Any] = json.loads(spec.to_specification().to_json())
    return _rewrite(raw)


def _rewrite(doc: dict[str, Any]) -> dict[str, Any]:
    """Name messages after their contracts, describe keys and dead-letter headers."""
    doc = copy.deepcopy(doc)
    servers = doc["servers"]
    if list(servers) == ["development"]:
        servers["ledger"] = servers.pop("development")
    server_refs = [{"$ref": f"#/servers/{name}"} for name in servers]
    components = doc.setdefault("components", {})
    schemas: dict[str, Any] = components.setdefault("schemas", {})
    # FastStream's `<channel>:Message` envelopes are replaced by one message per contract.
    components["messages"] = messages = {}
    for name in [n for n in schemas if ":" in n]:
        del schemas[name]
    channels, operations = {}, {}
    for t in TOPICS:
        members = union_members(t.union)
        for cls in members:
            if cls.__name__ not in schemas:  # FastStream inlines a one-member union
                schemas.update(_component_schemas(cls))
            messages[cls.__name__] = _message(cls)
        schemas[t.union_name] = {
            "title": t.union_name,
            "description": f"Any message of `{t.topic}`; the `type` field names which.",
            "oneOf": [{"$ref": f"#/components/schemas/{m.__name__}"} for m in members],
            "discriminator": "type",
        }
        channels[t.topic] = _channel(
            doc["channels"][t.topic], t.topic, t.summary, [m.__name__ for m in members], server_refs
        )
        operations[t.topic] = _operation(t.topic, t.producers, t.consumers, [m.__name__ for m in members])
        dlq = topics.dlq(t.topic)
        messages[t.dead_letter_message] = _dead_letter_message(t)
        channels[dlq] = _channel(
            doc["channels"][dlq],
            dlq,
            f"Dead letters of `{t.topic}`: records its consumers ({t.consumers}) could not handle, "
            "byte for byte, with the error in the headers. Read it to find and replay what failed.",
            [t.dead_letter_message],
            server_refs,
        )
        operations[dlq] = _operation(
            dlq, f"the consumers of `{t.topic}` ({t.consumers})", "operators", [t.dead_letter_message]
        )
    doc["channels"], doc["operations"] = channels, operations
    components["schemas"] = dict(sorted(schemas.items()))
    components["messages"] = dict(sorted(messages.items()))
    _check_refs(doc)
    return doc


def _component_schemas(cls: type[BaseModel]) -> dict[str, Any]:
    schema = cls.model_json_schema(ref_template="#/components/schemas/{model}")
    defs = schema.pop("$defs", {})
    return {**defs, cls.__name__: schema}


def _kafka_key() -> dict[str, Any]:
    return {"kafka": {"key": TENANT_KEY, "bindingVersion": KAFKA_BINDING_VERSION}}


def _message(cls: type[BaseModel]) -> dict[str, Any]:
    doc = (cls.__doc__ or "").strip()
    type_field = cls.model_fields["type"].default
    out: dict[str, Any] = {
        "name": cls.__name__,
        "title": cls.__name__,
        "summary": doc.splitlines()[0] if doc else f"`type`: `{type_field}`",
        "contentType": "application/json",
        "payload": {"$ref": f"#/components/schemas/{cls.__name__}"},
        "bindings": _kafka_key(),
    }
    if doc and "\n" in doc:
        out["description"] = doc
    return out


def _dead_letter_message(t: TopicDoc) -> dict[str, Any]:
    return {
        "name": t.dead_letter_message,
        "title": t.dead_letter_message,
        "summary": f"A record of `{t.topic}` that a consumer could not handle.",
        "description": f"The value is the original record's value, byte for byte: usually a "
        f"`{t.union_name}` that failed validation or handling, possibly not JSON at all. The key is the "
        "original key (the tenant id; empty if the record had none). The headers say what went wrong "
        "and where the record came from.",
        "contentType": "application/octet-stream",
        "headers": DEAD_LETTER_HEADERS,
        "payload": {
            "type": "string",
            "format": "binary",
            "description": f"The original value; when valid, one `{t.union_name}`.",
            "x-original-schema": {"$ref": f"#/components/schemas/{t.union_name}"},
        },
        "bindings": {
            "kafka": {
                "key": {**TENANT_KEY, "minLength": 0, "description": "The original record's key."},
                "bindingVersion": KAFKA_BINDING_VERSION,
            }
        },
    }


def _channel(
    generated: dict[str, Any], topic: str, description: str, names: list[str], servers: list[Any]
) -> dict[str, Any]:
    bindings = generated.get("bindings") or {"kafka": {"topic": topic}}
    bindings["kafka"]["bindingVersion"] = KAFKA_BINDING_VERSION
    assert generated.get("address") == topic, generated
    return {
        "address": topic,
        "title": topic,
        "description": description,
        "servers": servers,
        "messages": {n: {"$ref": f"#/components/messages/{n}"} for n in names},
        "bindings": bindings,
    }


def _operation(topic: str, producers: str, consumers: str, names: list[str]) -> dict[str, Any]:
    return {
        "action": "send",
        "title": f"Publish to {topic}",
        "description": f"Published by {producers}; consumed by {consumers}. Key: the tenant id.",
        "channel": {"$ref": f"#/channels/{topic}"},
        "messages": [{"$ref": f"#/channels/{topic}/messages/{n}"} for n in names],
    }


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield v
            else:
                yield from _refs(v)
    elif isinstance(node, list):
        for v in node:
            yield from _refs(v)


def resolve(doc: dict[str, Any], ref: str) -> Any:
    """The node a local `#/a/b` reference points at (KeyError when it points nowhere)."""
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def _check_refs(doc: dict[str, Any]) -> None:
    dangling = []
    for ref in _refs(doc):
        try:
            resolve(doc, ref)
        except (KeyError, TypeError):
            dangling.append(ref)
    if dangling:
        raise ValueError(f"AsyncAPI document has dangling references: {sorted(set(dangling))}")


# --- JSON Schemas -------------------------------------------------------------------------------


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name -> JSON Schema: one per topic (its union) and one per message class."""
    out: dict[str, dict[str, Any]] = {}
    for t in TOPICS:
        out[f"{t.topic}.json"] = _with_dialect(
            TypeAdapter(t.union).json_schema(),
            title=t.union_name,
            description=f"Any message of `{t.topic}` (the record value); keyed by tenant id.",
        )
        for cls in union_members(t.union):
            out[f"{cls.__name__}.json"] = _with_dialect(cls.model_json_schema())
    out["dead-letter-headers.json"] = _with_dialect(
        copy.deepcopy(DEAD_LETTER_HEADERS),
        title="DeadLetterHeaders",
        description="The headers of every record on a `.dlq` topic (values are UTF-8 strings).",
    )
    return dict(sorted(out.items()))


def _with_dialect(schema: dict[str, Any], **extra: str) -> dict[str, Any]:
    return {"$schema": JSON_SCHEMA_DIALECT, **extra, **schema}


# --- files --------------------------------------------------------------------------------------


def dumps(data: Any) -> str:
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def rendered_files() -> dict[str, str]:
    """Relative path under docs/ -> file content, exactly as checked in."""
    files = {DOCUMENT_FILE: dumps(document())}
    files |= {f"{SCHEMAS_DIR}/{name}": dumps(s) for name, s in json_schemas().items()}
    return files


def checked_in_files(docs_dir: Path) -> dict[str, str]:
    """Relative path -> content of the document and every schema file under `docs_dir`."""
    paths = [docs_dir / DOCUMENT_FILE, *sorted((docs_dir / SCHEMAS_DIR).glob("*.json"))]
    return {p.relative_to(docs_dir).as_posix(): p.read_text(encoding="utf-8") for p in paths if p.is_file()}


def differences(expected: dict[str, str], checked_in: dict[str, str]) -> list[str]:
    """What is stale in `checked_in` compared with `expected` (empty: current)."""
    problems = []
    for rel, text in expected.items():
        if rel not in checked_in:
            problems.append(f"{rel}: missing")
        elif checked_in[rel] != text:
            problems.append(f"{rel}: differs from the contracts")
    problems += [f"{rel}: no longer generated (delete it)" for rel in checked_in if rel not in expected]
    return problems


def stale_files(docs_dir: Path) -> list[str]:
    """What differs between the checked-in files under `docs_dir` and the contracts (empty: current)."""
    return differences(rendered_files(), checked_in_files(docs_dir))


def write_files(docs_dir: Path) -> list[str]:
    expected = rendered_files()
    (docs_dir / SCHEMAS_DIR).mkdir(parents=True, exist_ok=True)
    for path in (docs_dir / SCHEMAS_DIR).glob("*.json"):
        if f"{SCHEMAS_DIR}/{path.name}" not in expected:
            path.unlink()
    for rel, text in expected.items():
        (docs_dir / rel).write_text(text, encoding="utf-8")
    return sorted(expected)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ledger_api.asyncapi", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="write docs/asyncapi.json and docs/schemas/")
    mode.add_argument("--check", action="store_true", help="exit 1 when the checked-in files are stale")
    parser.add_argument("--docs", type=Path, default=Path("docs"), help="the docs directory (default: docs)")
    args = parser.parse_args(argv)
    if args.write:
        written = write_files(args.docs)
        print(f"wrote {len(written)} files under {args.docs}/")
        return 0
    if args.check:
        problems = stale_files(args.docs)
        for p in problems:
            print(f"{args.docs}/{p}", file=sys.stderr)
        if problems:
            print(f"regenerate with: {REGENERATE}", file=sys.stderr)
        return 1 if problems else 0
    sys.stdout.write(dumps(document()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
