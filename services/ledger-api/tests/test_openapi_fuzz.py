"""schemathesis against /openapi.json, on the running app (real PostgreSQL and broker): generated
requests for every operation find no 5xx, no undocumented status code, no response that breaks its
schema or content type. Bounded: a few examples per operation, well under a minute."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import hypothesis
import pytest
import schemathesis
from cryptography.fernet import Fernet
from hypothesis import HealthCheck, Phase
from pydantic import SecretStr
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from ledger_api.app import build_app
from ledger_api.settings import Settings

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 12
# No time limit per request (no test asserts on elapsed time): a request that never answers is
# caught by pytest-timeout (pyproject.toml), which fails the run with every thread's stack.


def _tags() -> list[str]:
    """The operations' tags, read from the app's OpenAPI document (no I/O: nothing starts)."""
    document = build_app(Settings(database_url=SecretStr("postgresql://openapi-only/none"))).openapi()
    return sorted(
        {tag for methods in document["paths"].values() for op in methods.values() for tag in op["tags"]}
    )


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # No wait for the reconciler (there is none here): manual edits answer 202 at once.
    return settings.model_copy(
        update={"secrets_key": SecretStr(Fernet.generate_key().decode()), "command_wait_seconds": 0}
    )


def _request_kwargs(case: Any, token: str) -> dict[str, Any]:
    """schemathesis' transport kwargs (requests-style) as httpx wants them."""
    kw = case.as_transport_kwargs(base_url="http://ledger", headers={"Authorization": f"Bearer {token}"})
    out: dict[str, Any] = {
        "method": kw["method"],
        "url": kw["url"],
        "headers": {k: v for k, v in kw.get("headers", {}).items() if k.lower() != "connection"},
        "params": kw.get("params") or None,
    }
    if "json" in kw:
        out["json"] = kw["json"]
    if "data" in kw:
        data = kw["data"]
        out["content" if isinstance(data, bytes | str) else "data"] = data
    if kw.get("files"):
        out["files"] = kw["files"]
    return out


@pytest.mark.parametrize("tag", _tags())
async def test_every_operation_answers_within_its_schema(app, client, tag: str) -> None:
    """One app per tag, so a failure names its part of the API; every operation has a tag."""
    schema = schemathesis.openapi.from_dict(app.openapi())
    token = client.headers["Authorization"].removeprefix("Bearer ")
    loop = asyncio.get_running_loop()
    failures: dict[str, str] = {}
    calls: dict[str, int] = {}

    def send(case: Any) -> httpx.Response:
        future = asyncio.run_coroutine_threadsafe(client.request(**_request_kwargs(case, token)), loop)
        return future.result()

    def checker(label: str, strategy: Any) -> Any:
        @hypothesis.settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @hypothesis.given(case=strategy)
        def check(case: Any) -> None:
            response = send(case)
            calls[label] = calls.get(label, 0) + 1
            case.validate_response(response, checks=CHECKS)

        return check

    def fuzz_all() -> None:
        for result in schema.get_all_operations():
            operation = result.ok()
            if tag not in (operation.tags or []):
                continue
            try:
                checker(operation.label, operation.as_strategy())()
            except (
                Exception,
                BaseExceptionGroup,
            ) as exc:  # one operation's failure must not hide the others'
                failures[operation.label] = f"{type(exc).__name__}: {exc}"[:3000]

    await asyncio.to_thread(fuzz_all)
    operations = sum(
        tag in op.get("tags", []) for methods in app.openapi()["paths"].values() for op in methods.values()
    )
    assert len(calls) == operations and failures == {}, "\n\n".join(
        f"{label}\n{text}" for label, text in failures.items()
    )
