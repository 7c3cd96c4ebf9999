"""`/v1/mdm-priority` (R-P1, issue 11): the order of a tenant's MDM integrations when several MDMs
report one device — optionally per OS family. Default: the order in which the integrations were
first linked (as the reconciler ranks them: see `_linked`). A change is planned first
(`POST /v1/mdm-priority/plan`: the reconciler publishes the devices whose fields or source would
change, read at `GET /v1/sync-runs/{plan_id}/plan`), then applied (`PUT`): the reconciler
re-derives those devices' fields with history (R-P3)."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from ledger_contracts import SetMdmPriority, topics

from ..adapters import kafka
from ..adapters.repositories import audit
from ..errors import Unprocessable
from .deps import AppState, Conn, CurrentActor, State, Tenant, current_tenant, reject_unknown_query
from .responses import LedgerJSONResponse
from .schemas import ErrorBody

router = APIRouter(
    prefix="/v1/mdm-priority",
    tags=["mdm priority"],
    dependencies=[Depends(current_tenant)],
    responses={400: {"model": ErrorBody}, 401: {"model": ErrorBody}},
)

OsFamily = Literal["apple", "windows", "android"]
_PUBLISHES: dict[int | str, dict[str, Any]] = {
    422: {"model": ErrorBody},
    503: {"model": ErrorBody, "description": "the broker did not take the request; nothing changed"},
}


class MdmPriorityIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    order: list[str] = Field(max_length=100, description="integration ids, highest priority first")
    per_os_family: dict[OsFamily, list[str]] = Field(
        default_factory=dict, description="an order per OS family that comes before `order`"
    )


class MdmPriority(BaseModel):
    order: list[str]
    per_os_family: dict[str, list[str]]
    is_default: bool  # no order was set: the order in which the integrations were first linked


class PriorityPlanned(BaseModel):
    plan_id: uuid.UUID
    plan: str  # where the planned changes are read
    priority: MdmPriority


# `announced`: a master link created over the API (its MasterLinkChanged "created" told the
# reconciler), as opposed to one seeded by the bootstrap file, which the reconciler is never told about.
_LINKED = """
SELECT m.integration_id, m.created_at, m.master_link_id, m.announced
FROM ledger.master_links m WHERE m.tenant_id = $1
"""


async def _linked(conn: Conn, tenant: str) -> list[str]:
    """R-P1 default, the reconciler's own (`core.link_order`): the integrations in the order their
    first master link was created over the API (by created_at, then master link id; removed links
    count: a re-link keeps the first place), then those only ever linked by the bootstrap file
    (never announced to the reconciler), by integration id."""
    rows = await conn.fetch(_LINKED, tenant)
    first: dict[str, tuple[Any, str]] = {}
    for r in rows:
        if r["announced"]:
            at = (r["created_at"], r["master_link_id"])
            first[r["integration_id"]] = min(first.get(r["integration_id"], at), at)
    announced = sorted(first, key=lambda i: (*first[i], i))
    return announced + sorted({r["integration_id"] for r in rows} - set(first))


async def _current(conn: Conn, tenant: str) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT priority_order::text AS o, per_os_family::text AS f FROM ledger.mdm_priority "
        "WHERE tenant_id = $1",
        tenant,
    )
    linked = await _linked(conn, tenant)
    if row is None:
        return {"order": linked, "per_os_family": {}, "is_default": True}
    # Integrations linked after the order was set follow it in link order, as in the reconciler.
    order = json.loads(row["o"])
    order += [i for i in linked if i not in order]
    return {"order": order, "per_os_family": json.loads(row["f"]), "is_default": False}


async def _checked(conn: Conn, tenant: str, body: MdmPriorityIn) -> tuple[list[str], dict[str, list[str]]]:
    """Every id is an integration of the tenant with a master link, each once per list; the
    tenant's linked integrations the order leaves out follow in link order."""
    linked = await _linked(conn, tenant)
    for name, ids in [
        ("order", body.order),
        *((f"per_os_family.{k}", v) for k, v in body.per_os_family.items()),
    ]:
        unknown = [i for i in ids if i not in linked]
        if unknown:
            raise Unprocessable(
                f"{name}: {', '.join(unknown)} is not a master-linked integration of this tenant"
            )
        if len(set(ids)) != len(ids):
            raise Unprocessable(f"{name}: an integration is listed twice")
    order = [*body.order, *(i for i in linked if i not in body.order)]
    return order, {k: list(v) for k, v in body.per_os_family.items()}


async def _publish(
    state: AppState, tenant: str, order: list[str], families: dict[str, list[str]], *, dry_run: bool
) -> uuid.UUID:
    plan_id = uuid.uuid4()
    command = SetMdmPriority(
        tenant_id=tenant,
        order=tuple(order),
        per_os_family={k: tuple(v) for k, v in families.items()},
        dry_run=dry_run,
        plan_id=plan_id,
    )
    await kafka.publish(state.producer, topics.named(topics.COMMANDS, state.settings.topic_prefix), command)
    return plan_id


@router.get("", response_model=MdmPriority, summary="The tenant's MDM priority (R-P1)")
async def get_priority(request: Request, tenant: Tenant, conn: Conn) -> Response:
    reject_unknown_query(request, ())
    return LedgerJSONResponse(await _current(conn, tenant))


@router.post(
    "/plan",
    response_model=PriorityPlanned,
    status_code=202,
    summary="Plan a priority change (dry run, R-P1)",
    responses=_PUBLISHES,
)
async def plan_priority(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[MdmPriorityIn, Body()],
) -> Response:
    """Nothing changes: the reconciler lists the devices bound to several MDMs whose fields or
    source this priority would change, at `GET /v1/sync-runs/{plan_id}/plan` (404 while nothing
    is planned yet, or when nothing would change)."""
    reject_unknown_query(request, ())
    async with conn.transaction():
        order, families = await _checked(conn, tenant, body)
        plan_id = await _publish(state, tenant, order, families, dry_run=True)
        after = {"order": order, "per_os_family": families, "plan_id": str(plan_id)}
        await audit.record(conn, tenant, actor, "mdm_priority.plan", "mdm_priority", tenant, None, after)
    out = {
        "plan_id": plan_id,
        "plan": f"/v1/sync-runs/{plan_id}/plan",
        "priority": {"order": order, "per_os_family": families, "is_default": False},
    }
    return LedgerJSONResponse(out, status_code=202)


@router.put(
    "", response_model=MdmPriority, summary="Set the tenant's MDM priority (R-P1)", responses=_PUBLISHES
)
async def put_priority(
    request: Request,
    tenant: Tenant,
    conn: Conn,
    state: State,
    actor: CurrentActor,
    body: Annotated[MdmPriorityIn, Body()],
) -> Response:
    """Stored, then applied by the reconciler: the devices bound to several MDMs are re-derived
    (fields, primary binding, source), each change with its history naming the MDM and the rule."""
    reject_unknown_query(request, ())
    async with conn.transaction():
        before = await _current(conn, tenant)
        order, families = await _checked(conn, tenant, body)
        await conn.execute(
            "INSERT INTO ledger.mdm_priority (tenant_id, priority_order, per_os_family) "
            "VALUES ($1, $2::jsonb, $3::jsonb) "
            "ON CONFLICT (tenant_id) DO UPDATE SET priority_order = excluded.priority_order, "
            "per_os_family = excluded.per_os_family, updated_at = now()",
            tenant,
            json.dumps(order),
            json.dumps(families),
        )
        await _publish(state, tenant, order, families, dry_run=False)
        after = {"order": order, "per_os_family": families, "is_default": False}
        await audit.record(conn, tenant, actor, "mdm_priority.set", "mdm_priority", tenant, before, after)
    return LedgerJSONResponse(after)
