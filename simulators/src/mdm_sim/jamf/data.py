"""Devices the Jamf simulator serves: loaded from files, or generated from a seed.

Generated fleets carry the quirks real tenants have, so the connector meets them in every test:
missing serials ("Not Available", blank, null), duplicate serials after a wipe and re-enrollment
(the newer record has a higher id), asset tags that collide with each other and short ones like
"1A", and overlapping ids (computer 7 and mobile 7 both exist: separate tables in Jamf).

Generation is built for speed (20,000 devices well under a second): value pools are made once per
fleet and each device is a handful of dict literals.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

# (model, modelIdentifier, apple silicon, processor)
MACS = (
    ("MacBook Air (M1, 2020)", "MacBookAir10,1", True, "Apple M1"),
    ("MacBook Air (13-inch, M2, 2022)", "Mac14,2", True, "Apple M2"),
    ("MacBook Air (15-inch, M3, 2024)", "Mac15,13", True, "Apple M3"),
    ("MacBook Pro (14-inch, M3 Pro, Nov 2023)", "Mac15,6", True, "Apple M3 Pro"),
    ("MacBook Pro (16-inch, 2019)", "MacBookPro16,1", False, "8-Core Intel Core i9"),
    ("MacBook Pro (13-inch, M2, 2022)", "Mac14,7", True, "Apple M2"),
    ("Mac mini (M2, 2023)", "Mac14,3", True, "Apple M2"),
    ("iMac (24-inch, M3, 2023)", "Mac15,4", True, "Apple M3"),
    ("Mac Studio (M2 Max, 2023)", "Mac14,13", True, "Apple M2 Max"),
)
MACOS = (
    ("13.6.7", "22G720"),
    ("14.4.1", "23E224"),
    ("14.6.1", "23G93"),
    ("15.1", "24B83"),
    ("15.3.2", "24D81"),
)
DISK_MB = (245107, 494384, 994662, 1995218)  # what Jamf reports for 256 GB … 2 TB SSDs

# (model, modelIdentifier, deviceType, capacity MB)
MOBILES = (
    ("iPad (A16)", "iPad15,7", "iOS", 128000),
    ("iPad Air 11-inch (M2)", "iPad14,8", "iOS", 256000),
    ("iPad Pro 13-inch (M4)", "iPad16,5", "iOS", 512000),
    ("iPad (9th generation)", "iPad12,1", "iOS", 64000),
    ("iPhone 15", "iPhone15,4", "iOS", 128000),
    ("iPhone 15 Pro", "iPhone16,1", "iOS", 256000),
    ("iPhone 14", "iPhone14,7", "iOS", 128000),
    ("iPhone SE (3rd generation)", "iPhone14,6", "iOS", 64000),
    ("Apple TV 4K (3rd generation)", "AppleTV14,1", "tvOS", 64000),
)
IOS = ("16.7.8", "17.5", "17.6.1", "18.1", "18.3.2")
TVOS = ("17.5", "18.1")

FIRST = ("aiko", "ben", "chloe", "daiki", "emma", "felix", "grace", "haruto", "ines", "jun", "kenji", "lena")
LAST = ("sato", "smith", "tanaka", "garcia", "muller", "suzuki", "kim", "rossi", "ito", "novak", "yamada")
BROKEN_SERIALS = (None, "", "Not Available", "  ")


@dataclass(frozen=True)
class _Pools:
    """Values made once per fleet: formatting 20,000 timestamps would cost more than the fleet."""

    users: list[str]
    recent: list[str]  # last contact / inventory times, with milliseconds as Jamf sends them
    enrolled: list[str]  # enrollment times, without milliseconds (Jamf mixes both)

    @classmethod
    def make(cls, rng: random.Random, now: datetime) -> _Pools:
        recent = [now - timedelta(minutes=rng.randint(5, 60 * 24 * 30)) for _ in range(500)]
        return cls(
            users=[f"{f}.{la}{i or ''}" for i in range(4) for f in FIRST for la in LAST],
            recent=[t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{rng.randint(0, 999):03d}Z" for t in recent],
            enrolled=[
                (now - timedelta(days=rng.randint(30, 1500))).strftime("%Y-%m-%dT%H:%M:%SZ")
                for _ in range(500)
            ],
        )


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032X}"
    variant = "89AB"[int(h[16], 16) & 3]
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{variant}{h[17:20]}-{h[20:]}"


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]  # ~3x faster than rng.choice, which matters at 20k


def _serial(rng: random.Random, n: int, prefix: str) -> str:
    return prefix + format(rng.getrandbits(40) ^ n, "010X")[:9]


@contextlib.contextmanager
def _no_gc() -> Iterator[None]:
    """Generation allocates ~100 acyclic objects per device; cyclic GC passes over them are waste."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


def _ids(rng: random.Random, count: int) -> list[int]:
    """1..10 dense (so computer 7 and mobile 7 both exist), then small gaps like deleted records."""
    ids, nxt = [], 1
    for i in range(count):
        ids.append(nxt)
        nxt += 1 if i < 10 or rng.random() > 0.05 else rng.randint(2, 4)
    return ids


def _asset_tags(rng: random.Random, count: int) -> list[str | None]:
    """~30 % none, some collide with another device, some short like "1A"; the rest unique."""
    tags: list[str | None] = []
    for i in range(count):
        roll = rng.random()
        if roll < 0.25:
            tags.append(None)
        elif roll < 0.30:
            tags.append("")
        elif roll < 0.33 and tags:
            tags.append(rng.choice([t for t in tags[-50:] if t] or ["1A"]))  # a collision
        elif roll < 0.35:
            tags.append(f"{rng.randint(1, 9)}{rng.choice('ABC')}")  # "1A" and friends (R-J3)
        else:
            tags.append(f"A{100000 + i:06d}")
    return tags


def generate_computers(count: int, seed: int = 0, now: datetime | None = None) -> list[dict[str, Any]]:
    rng = random.Random(f"jamf-computers-{seed}")
    pools = _Pools.make(rng, now or datetime.now(UTC))
    tags = _asset_tags(rng, count)
    out: list[dict[str, Any]] = []
    with _no_gc():
        for i, cid in enumerate(_ids(rng, count)):
            out.append(_computer(rng, pools, i, cid, tags[i], out))
    return out


def generate_mobiles(count: int, seed: int = 0, now: datetime | None = None) -> list[dict[str, Any]]:
    rng = random.Random(f"jamf-mobiles-{seed}")
    pools = _Pools.make(rng, now or datetime.now(UTC))
    tags = _asset_tags(rng, count)
    out: list[dict[str, Any]] = []
    with _no_gc():
        for i, mid in enumerate(_ids(rng, count)):
            out.append(_mobile(rng, pools, i, mid, tags[i], out))
    return out


def _serial_or_quirk(
    rng: random.Random, i: int, earlier: list[dict[str, Any]], prefix: str, broken: float, reused: float
) -> str | None:
    roll = rng.random()
    if roll < broken:  # DEP device before its first check-in, personally owned, bad firmware
        return _pick(rng, BROKEN_SERIALS)
    if roll < broken + reused and earlier:  # wiped and re-enrolled: a newer record, same serial
        serial: str | None = _pick(rng, earlier)["hardware"]["serialNumber"]
        return serial
    return _serial(rng, i, prefix)


def _computer(
    rng: random.Random, pools: _Pools, i: int, cid: int, tag: str | None, earlier: list[dict[str, Any]]
) -> dict[str, Any]:
    model, ident, silicon, cpu = _pick(rng, MACS)
    version, build = _pick(rng, MACOS)
    user = _pick(rng, pools.users)
    disk = _pick(rng, DISK_MB)
    managed = rng.random() > 0.03
    contact = _pick(rng, pools.recent)
    return {
        "id": str(cid),
        "udid": _uuid(rng),
        "general": {
            "name": f"{user.split('.')[0].capitalize()}'s {model.split(' (')[0]}",
            "assetTag": tag,
            "platform": "Mac",
            "barcode1": None,
            "lastIpAddress": f"10.{i >> 16 & 255}.{i >> 8 & 255}.{i & 255}",
            "reportDate": contact,
            "lastContactTime": contact,
            "lastEnrolledDate": _pick(rng, pools.enrolled),
            "remoteManagement": {"managed": managed},
            "supervised": managed and rng.random() > 0.4,
            "mdmCapable": {"capable": managed, "userManagementInfo": []},
            "managementId": _uuid(rng).lower(),
            "site": {"id": "-1", "name": "None"},
            "enrolledViaAutomatedDeviceEnrollment": rng.random() > 0.3,
        },
        "hardware": {
            "make": "Apple",
            "model": model,
            "modelIdentifier": ident,
            "serialNumber": _serial_or_quirk(rng, i, earlier, "C02", broken=0.02, reused=0.01),
            "processorType": cpu,
            "processorArchitecture": "arm64" if silicon else "x86_64",
            "totalRamMegabytes": _pick(rng, (8192, 16384, 32768)),
            "appleSilicon": silicon,
        },
        "operatingSystem": {"name": "macOS", "version": version, "build": build},
        "userAndLocation": {
            "username": user,
            "realname": user.replace(".", " ").title(),
            "email": f"{user}@example.com" if rng.random() > 0.05 else None,
            "position": None,
            "departmentId": None,
            "buildingId": None,
            "room": None,
        },
        "storage": {
            "bootDriveAvailableSpaceMegabytes": disk // 2,
            "disks": [
                {
                    "id": str(cid * 10),
                    "device": "disk0",
                    "model": "APPLE SSD AP0512Z",
                    "sizeMegabytes": disk,
                    "smartStatus": "Verified",
                    "type": "SSD",
                    "partitions": [
                        {
                            "name": "Macintosh HD (Boot Partition)",
                            "sizeMegabytes": disk,
                            "availableMegabytes": disk // 2,
                            "partitionType": "BOOT",
                            "percentUsed": 50,
                            "fileVault2State": "ENCRYPTED",
                            "lvmManaged": False,
                        }
                    ],
                }
            ],
        },
    }


def _mobile(
    rng: random.Random, pools: _Pools, i: int, mid: int, tag: str | None, earlier: list[dict[str, Any]]
) -> dict[str, Any]:
    model, ident, device_type, capacity = _pick(rng, MOBILES)
    tv = device_type == "tvOS"
    user = _pick(rng, pools.users)
    personal = not tv and rng.random() < 0.1
    return {
        "mobileDeviceId": str(mid),
        "deviceType": device_type,
        "general": {
            "udid": f"00008120-{rng.getrandbits(64):016X}",
            "displayName": model.split(" (")[0] if tv else f"{user.split('.')[0]}'s {model}",
            "assetTag": tag,
            "siteId": "-1",
            "osVersion": _pick(rng, TVOS if tv else IOS),
            "osBuild": "22F76",
            "lastInventoryUpdateDate": _pick(rng, pools.recent),
            "lastEnrolledDate": _pick(rng, pools.enrolled),
            "managed": True,
            "supervised": not personal,
            "deviceOwnershipType": "UserEnrollment" if personal else "Institutional",
        },
        "hardware": {
            "serialNumber": _serial_or_quirk(rng, i, earlier, "DMP", broken=0.03, reused=0.01),
            "model": model,
            "modelIdentifier": ident,
            "modelNumber": "MD3Y4KN",
            "capacityMb": capacity,
            "availableSpaceMb": capacity // 3,
        },
        "userAndLocation": None
        if tv
        else {
            "username": user,
            "realName": user.replace(".", " ").title(),
            "emailAddress": f"{user}@example.com" if rng.random() > 0.05 else "",
            "position": None,
            "room": None,
        },
    }


def load_file(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """A `{totalCount, results}` page (as saved from a real server) or a plain JSON array."""
    data = json.loads(Path(path).read_text())
    records = data.get("results") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise ValueError(f"{path}: expected a JSON array of objects or a {{totalCount, results}} page")
    return records
