"""The simulated tenant's managedDevices: keyset-ordered, mutable by tests, pages served from a cache.

Real Graph pages managedDevices by keyset on (deviceName, id) — the observed `$skiptoken` is
`LastDeviceName='…',LastDeviceId='…'` — so a device renamed mid-crawl can be skipped or seen twice.
We reproduce that rather than paging by offset, so clients must dedupe by id as against Graph.
"""

from __future__ import annotations

import bisect
import json
import os
import uuid
from collections import OrderedDict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .generate import TEMPLATE

Key = tuple[str, str]


def load_devices_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Devices from a Graph list page (`{"value": [...]}`), a JSON array, or one managedDevice object."""
    data = json.loads(Path(path).read_text())
    if isinstance(data, dict):
        data = data["value"] if "value" in data else [data]
    if not isinstance(data, list) or not all(isinstance(d, dict) for d in data):
        raise ValueError(f"{path}: expected a Graph page, a JSON array or a managedDevice object")
    # A per-item @odata.context is a fixture quirk (sample v1-vmware-vms.json); Graph lists omit it.
    return [{k: v for k, v in d.items() if k != "@odata.context"} for d in data]


def device_files(directory: str | os.PathLike[str]) -> list[Path]:
    return sorted(Path(directory).glob("*.json"))


def _key(device: dict[str, Any]) -> Key:
    return (str(device.get("deviceName") or ""), str(device.get("id") or ""))


class DeviceStore:
    """Devices by id plus a lazily rebuilt keyset order. `version` changes on every mutation."""

    def __init__(self, devices: Iterable[dict[str, Any]] = (), *, cache_bytes: int = 256 * 2**20) -> None:
        self._by_id: dict[str, dict[str, Any]] = {}
        self._keys: list[Key] = []
        self._ids: list[str] = []
        self._sorted = False
        self.version = 0
        self.known_properties: set[str] = set(TEMPLATE)
        self._cache: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._cache_bytes = 0
        self._cache_budget = cache_bytes
        self.replace(devices)

    # --- reads ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._by_id)

    def get(self, device_id: str) -> dict[str, Any] | None:
        return self._by_id.get(device_id)

    def all(self) -> list[dict[str, Any]]:
        self._ensure_sorted()
        return [self._by_id[i] for i in self._ids]

    def page(self, after: Key | None, top: int) -> tuple[int, list[dict[str, Any]], Key | None]:
        """(index of the first device, the devices, key of the last one if more follow)."""
        self._ensure_sorted()
        start = bisect.bisect_right(self._keys, after) if after is not None else 0
        ids = self._ids[start : start + top]
        more = start + top < len(self._ids)
        return start, [self._by_id[i] for i in ids], (self._keys[start + top - 1] if more else None)

    def cached(self, key: tuple[Any, ...]) -> bytes | None:
        body = self._cache.get((self.version, *key))
        if body is not None:
            self._cache.move_to_end((self.version, *key))
        return body

    def remember(self, key: tuple[Any, ...], body: bytes) -> None:
        self._cache[(self.version, *key)] = body
        self._cache_bytes += len(body)
        while self._cache_bytes > self._cache_budget and self._cache:
            _, old = self._cache.popitem(last=False)
            self._cache_bytes -= len(old)

    # --- mutations (control API) ------------------------------------------------------------

    def replace(self, devices: Iterable[dict[str, Any]]) -> None:
        self._by_id = {}
        for d in devices:
            # Files may hold devices without an id (to test malformed payloads): give them a slot.
            self._by_id[str(d["id"]) if d.get("id") else f"_noid_{len(self._by_id)}"] = d
            self.known_properties.update(d)
        self._changed()

    def add(self, device: dict[str, Any]) -> dict[str, Any]:
        device = {**device, "id": device.get("id") or str(uuid.uuid4())}
        if str(device["id"]) in self._by_id:
            raise KeyError(device["id"])
        self._by_id[str(device["id"])] = device
        self.known_properties.update(device)
        self._changed()
        return device

    def patch(self, device_id: str, fields: dict[str, Any]) -> dict[str, Any]:
        current = self._by_id[device_id]  # KeyError -> 404
        updated = {**current, **fields, "id": current.get("id")}  # the id is the identity; never patched
        self._by_id[device_id] = updated
        self.known_properties.update(fields)
        self._changed()
        return updated

    def delete(self, device_id: str) -> None:
        del self._by_id[device_id]
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._sorted = False
        self._cache.clear()
        self._cache_bytes = 0

    def _ensure_sorted(self) -> None:
        if self._sorted:
            return
        pairs = sorted((_key(d), slot) for slot, d in self._by_id.items())
        self._keys = [k for k, _ in pairs]
        self._ids = [slot for _, slot in pairs]
        self._sorted = True
