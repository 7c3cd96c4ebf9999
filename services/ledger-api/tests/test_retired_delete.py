"""R-S8 (API side): a bound device that is `missing_from_mdm` is retired and may be deleted by
hand; R-S6 keeps refusing (409 `device_bound`) a device that its MDM still reports. Through the
real reconciler: one sync reports two devices, the next reports only one."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

import httpx
import pytest

from ledger_contracts import MdmOnlyFields, ObservedDevice

pytestmark = pytest.mark.integration


def _observed(n: int) -> ObservedDevice:
    return ObservedDevice(
        mdm_device_id=f"m-{n}", serial_number=f"SN-{n}", device_name=f"PC-{n}", mdm=MdmOnlyFields()
    )


@pytest.mark.rule("R-S8", "R-S6")
async def test_a_missing_bound_device_may_be_deleted_a_reported_one_may_not(
    client: httpx.AsyncClient,
    globex: httpx.AsyncClient,
    mdm_sync: Callable[..., Coroutine[Any, Any, dict[str, Any]]],
    error: Callable[[httpx.Response, int, str], dict[str, Any]],
) -> None:
    first = await mdm_sync([_observed(1), _observed(2)])
    assert first["counts"]["created"] == 2
    second = await mdm_sync([_observed(1)])
    assert second["counts"]["missing"] == 1, second
    by_serial = {d["serial_number"]: d for d in (await client.get("/v1/devices")).json()["items"]}
    reported, retired = by_serial["SN-1"], by_serial["SN-2"]
    assert reported["binding"] is not None and reported["missing_from_mdm"] is False
    assert retired["binding"] is not None and retired["missing_from_mdm"] is True

    # R-S6: the MDM still reports it
    err = error(await client.delete(f"/v1/devices/{reported['device_id']}"), 409, "device_bound")
    assert err["details"] == {"device_id": reported["device_id"]}
    assert "still reports" in err["message"]
    # tenant isolation: another tenant's token cannot delete (nor see) the retired device
    error(await globex.delete(f"/v1/devices/{retired['device_id']}"), 404, "not_found")

    # R-S8: retired, so deletable; the reconciler accepts it and the projection removes it
    resp = await client.delete(f"/v1/devices/{retired['device_id']}")
    assert resp.status_code == 204, resp.text
    assert (await client.get(f"/v1/devices/{retired['device_id']}")).status_code == 404
    history = (await client.get(f"/v1/devices/{retired['device_id']}/history")).json()["items"]
    assert history[0]["change"] == "deleted"
    assert (await client.get(f"/v1/devices/{reported['device_id']}")).status_code == 200
