"""The test control API under `/_sim`: mutate devices, inject faults, expire tokens, read counters.

Not part of Graph. Handlers are `async def` so they run on the server's event loop, the same
thread that serves Graph requests: no lock is needed around the store.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Body, HTTPException, Request, Response

from .config import GraphSimConfig
from .faults import Fault
from .generate import generate_devices
from .store import load_devices_file

router = APIRouter(prefix="/_sim", tags=["simulator control"])


def _sim(request: Request) -> Any:
    return request.app.state.sim


def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status_code=status, media_type="application/json")


def _devices_from(body: Any) -> list[dict[str, Any]]:
    if isinstance(body, dict) and isinstance(body.get("value"), list):
        body = body["value"]
    if not isinstance(body, list) or not all(isinstance(d, dict) for d in body):
        raise HTTPException(422, "expected a Graph page {'value': [...]} or a JSON array of managedDevices")
    return body


@router.get("/health")
async def health(request: Request) -> Response:
    return _json({"ok": True, "devices": len(_sim(request).store)})


@router.get("/stats")
async def stats(request: Request) -> Response:
    return _json(dict(_sim(request).stats))


@router.delete("/stats")
async def reset_stats(request: Request) -> Response:
    _sim(request).stats.clear()
    return Response(status_code=204)


@router.get("/requests")
async def requests(request: Request) -> Response:
    """R-M6: {"reads", "token_requests", "writes", "write_samples"} since the simulator started."""
    return _json(_sim(request).requests.as_dict())


@router.get("/bad-input")
async def list_bad_input(request: Request) -> Response:
    return _json([b.as_dict() for b in _sim(request).bad_inputs.items])


@router.post("/bad-input", status_code=201)
async def add_bad_input(request: Request, body: Any = Body(...)) -> Response:
    """One switch or a list: {"mode": "truncated_json", "page": 2, "times": 1} (see mdm_sim.badinput)."""
    try:
        added = _sim(request).bad_inputs.add(body)
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    return _json([b.as_dict() for b in added], 201)


@router.delete("/bad-input")
async def clear_bad_input(request: Request) -> Response:
    _sim(request).bad_inputs.clear()
    return Response(status_code=204)


@router.get("/faults")
async def list_faults(request: Request) -> Response:
    return _json([f.as_dict() for f in _sim(request).faults.faults])


@router.post("/faults", status_code=201)
async def add_faults(request: Request, body: Any = Body(...)) -> Response:
    """One fault or a list: {"status": 429, "retry_after": "0.05", "page": 2, "times": 1}."""
    items = body if isinstance(body, list) else [body]
    try:
        faults = [Fault(**{k: v for k, v in f.items() if k != "fired"}) for f in items]
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, str(exc)) from exc
    for f in faults:
        _sim(request).faults.add(f)
    return _json([f.as_dict() for f in faults], 201)


@router.delete("/faults")
async def clear_faults(request: Request) -> Response:
    _sim(request).faults.clear()
    return Response(status_code=204)


@router.post("/tokens/expire")
async def expire_tokens(request: Request) -> Response:
    """Every token issued so far fails with 'Lifetime validation failed, the token is expired.'"""
    return _json({"expired": _sim(request).tokens.expire_all()})


@router.post("/tokens/revoke")
async def revoke_tokens(request: Request) -> Response:
    return _json({"revoked": _sim(request).tokens.revoke_all()})


@router.get("/tokens")
async def issued_tokens(request: Request) -> Response:
    return _json({"issued": _sim(request).tokens.issued()})


@router.patch("/config")
async def patch_config(request: Request, body: dict[str, Any] = Body(...)) -> Response:
    """Change token_lifetime_s, reported_expires_in, max_page_size or count_skew at run time."""
    sim = _sim(request)
    allowed = {"token_lifetime_s", "reported_expires_in", "max_page_size", "count_skew"}
    unknown = set(body) - allowed
    if unknown:
        raise HTTPException(422, f"not changeable: {sorted(unknown)}; allowed: {sorted(allowed)}")
    for k, v in body.items():
        setattr(sim.config, k, v)
    return _json({k: getattr(sim.config, k) for k in sorted(allowed)})


@router.get("/devices")
async def list_devices(request: Request) -> Response:
    return _json({"value": _sim(request).store.all()})


@router.put("/devices")
async def replace_devices(request: Request, body: Any = Body(...)) -> Response:
    """Replace the whole set with a Graph page or a JSON array."""
    devices = _devices_from(body)
    _sim(request).store.replace(devices)
    return _json({"devices": len(devices)})


@router.post("/devices/generate")
async def regenerate(request: Request, body: dict[str, Any] = Body(...)) -> Response:
    """Replace the set with {"count": N, "seed": S} generated devices plus devices from `files`."""
    devices = generate_devices(int(body.get("count", GraphSimConfig.devices)), int(body.get("seed", 0)))
    for path in body.get("files", []):
        devices.extend(load_devices_file(path))
    _sim(request).store.replace(devices)
    return _json({"devices": len(devices)})


@router.post("/devices", status_code=201)
async def add_devices(request: Request, body: Any = Body(...)) -> Response:
    """Add one managedDevice (an id is generated when missing), or a page/list of them."""
    store = _sim(request).store
    single = isinstance(body, dict) and "value" not in body
    try:
        added = [store.add(d) for d in ([body] if single else _devices_from(body))]
    except KeyError as exc:
        raise HTTPException(409, f"device {exc.args[0]} exists") from exc
    return _json(added[0] if single else added, 201)


@router.get("/devices/{device_id}")
async def get_device(request: Request, device_id: str) -> Response:
    device = _sim(request).store.get(device_id)
    if device is None:
        raise HTTPException(404, "no such device")
    return _json(device)


@router.put("/devices/{device_id}")
async def patch_device(request: Request, device_id: str, body: dict[str, Any] = Body(...)) -> Response:
    """Change some fields of one device (the others are kept)."""
    try:
        return _json(_sim(request).store.patch(device_id, body))
    except KeyError as exc:
        raise HTTPException(404, "no such device") from exc


@router.delete("/devices/{device_id}")
async def delete_device(request: Request, device_id: str) -> Response:
    try:
        _sim(request).store.delete(device_id)
    except KeyError as exc:
        raise HTTPException(404, "no such device") from exc
    return Response(status_code=204)
