"""The subscribers' contract (issue 8 item 3, SPEC §9): the AsyncAPI document and the JSON Schemas
are generated from `ledger_contracts`, checked in under docs/, and current."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from ledger_api import asyncapi
from ledger_contracts import codec, topics

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
DOCS = ROOT / "docs"
GOLDEN = ROOT / "libs" / "contracts" / "tests" / "golden"
GOLDEN_TOPIC = {
    "sync-requests": topics.SYNC_REQUESTS,
    "snapshots": topics.SNAPSHOTS,
    "commands": topics.COMMANDS,
    "changes": topics.CHANGES,
}


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    return asyncapi.document()


def test_checked_in_asyncapi_and_schemas_match_the_contracts() -> None:
    problems = asyncapi.stale_files(DOCS)
    assert not problems, (
        "docs/asyncapi.json or docs/schemas/ no longer match ledger_contracts:\n  "
        + "\n  ".join(problems)
        + f"\nRegenerate them from the repository root with:\n  {asyncapi.REGENERATE}\nand commit the result."
    )


def test_the_check_fails_on_a_changed_missing_or_extra_file() -> None:
    expected = asyncapi.rendered_files()
    checked_in = asyncapi.checked_in_files(DOCS)
    assert asyncapi.differences(expected, checked_in) == []
    schema = json.loads(checked_in["schemas/LedgerDeviceChanged.json"])
    del schema["properties"]["version"]  # what an un-regenerated contract change looks like
    checked_in["schemas/LedgerDeviceChanged.json"] = asyncapi.dumps(schema)
    del checked_in["schemas/SyncRunFailed.json"]
    checked_in["schemas/Removed.json"] = "{}\n"
    assert asyncapi.differences(expected, checked_in) == [
        "schemas/LedgerDeviceChanged.json: differs from the contracts",
        "schemas/SyncRunFailed.json: missing",
        "schemas/Removed.json: no longer generated (delete it)",
    ]


def test_document_lists_the_four_topics_and_their_dead_letter_topics(doc: dict[str, Any]) -> None:
    assert doc["asyncapi"] == "3.0.0"
    expected = set(topics.ALL) | {topics.dlq(t) for t in topics.ALL}
    assert set(doc["channels"]) == expected
    assert {c["address"] for c in doc["channels"].values()} == expected
    assert set(doc["operations"]) == expected
    for name, op in doc["operations"].items():
        assert asyncapi.resolve(doc, op["channel"]["$ref"]) is doc["channels"][name]
        assert op["messages"], name


@pytest.mark.parametrize("topic", topics.ALL)
def test_every_message_of_a_topic_has_its_schema_and_tenant_key(doc: dict[str, Any], topic: str) -> None:
    spec = next(t for t in asyncapi.TOPICS if t.topic == topic)
    members = asyncapi.union_members(spec.union)
    channel = doc["channels"][topic]
    assert set(channel["messages"]) == {m.__name__ for m in members}
    for cls in members:
        message = asyncapi.resolve(doc, channel["messages"][cls.__name__]["$ref"])
        payload = asyncapi.resolve(doc, message["payload"]["$ref"])
        assert payload["properties"]["type"]["const"] == cls.model_fields["type"].default
        assert set(payload["properties"]) == set(cls.model_fields)
        assert "tenant_id" in payload["required"]
        key = message["bindings"]["kafka"]["key"]
        assert key["type"] == "string" and "tenant" in key["description"]


@pytest.mark.parametrize("topic", topics.ALL)
def test_dead_letter_topic_describes_the_error_headers_of_the_codec(doc: dict[str, Any], topic: str) -> None:
    channel = doc["channels"][topics.dlq(topic)]
    (ref,) = channel["messages"].values()
    message = asyncapi.resolve(doc, ref["$ref"])
    produced = [name for name, _ in codec.dead_letter_headers("boom", topic, 2, 41, "reconciler")]
    assert message["headers"]["required"] == produced
    assert set(message["headers"]["properties"]) == set(produced)
    assert message["payload"]["format"] == "binary"
    original = asyncapi.resolve(doc, message["payload"]["x-original-schema"]["$ref"])
    assert original["oneOf"]


def test_every_contract_class_has_a_json_schema_file() -> None:
    names = {p.name for p in (DOCS / "schemas").glob("*.json")}
    for t in asyncapi.TOPICS:
        assert f"{t.topic}.json" in names
        for cls in asyncapi.union_members(t.union):
            assert f"{cls.__name__}.json" in names


def _golden() -> list[Path]:
    return sorted(GOLDEN.glob("*.json"))


@pytest.mark.parametrize("path", _golden(), ids=lambda p: p.name)
def test_golden_samples_validate_against_the_checked_in_schemas(doc: dict[str, Any], path: Path) -> None:
    """What other teams validate against accepts every message our services send."""
    topic = GOLDEN_TOPIC[path.name.split("__")[0]]
    sample = json.loads(path.read_text())
    topic_schema = json.loads((DOCS / "schemas" / f"{topic}.json").read_text())
    Draft202012Validator(topic_schema).validate(sample)
    union = next(t.union_name for t in asyncapi.TOPICS if t.topic == topic)
    Draft202012Validator({**doc, "$ref": f"#/components/schemas/{union}"}).validate(sample)


def test_schemas_reject_an_unknown_key_and_a_missing_tenant() -> None:
    schema = json.loads((DOCS / "schemas" / f"{topics.CHANGES}.json").read_text())
    sample = json.loads((GOLDEN / "changes__device_changed.json").read_text())
    validator = Draft202012Validator(schema)
    assert validator.is_valid(sample)
    assert not validator.is_valid(sample | {"surprise": 1})
    assert not validator.is_valid({k: v for k, v in sample.items() if k != "tenant_id"})
