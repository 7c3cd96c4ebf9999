"""Macs enrolled in BOTH simulated MDMs (issue 11): the same serial numbers, from one seed.

A real company often enrols its Macs in Jamf Pro and in Intune. `shared_macs(n, seed)` is the one
source both simulators use (`--shared-macs N --shared-seed S`), so the Graph and the Jamf simulator
started with the same N and S report the same N serial numbers — each in its own shape, with its
own ids. The serials have their own prefix ("SHM"), so they never collide with generated ones.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
MODELS = (
    # (Intune model, Jamf model, Jamf modelIdentifier)
    ("MacBook Air", "MacBook Air (13-inch, M2, 2022)", "Mac14,2"),
    ("MacBook Pro", "MacBook Pro (14-inch, M3 Pro, Nov 2023)", "Mac15,6"),
    ("Mac mini", "Mac mini (M2, 2023)", "Mac14,3"),
    ("iMac", "iMac (24-inch, M3, 2023)", "Mac15,4"),
)
USERS = ("aiko.sato", "ben.smith", "chloe.tanaka", "diego.garcia", "emma.muller", "felix.kim", "grace.ito")


@dataclass(frozen=True)
class SharedMac:
    index: int
    serial: str
    user: str  # "first.last"
    intune_model: str
    jamf_model: str
    jamf_model_identifier: str

    @property
    def device_name(self) -> str:
        first = self.user.split(".")[0].capitalize()
        return f"{first}'s {self.intune_model} {self.index + 1}"


def shared_macs(n: int, seed: int = 0) -> list[SharedMac]:
    """`n` Macs, the same for the same (n, seed) in every simulator; serials unique."""
    rng = random.Random(f"shared-macs-{seed}")
    out: list[SharedMac] = []
    seen: set[str] = set()
    while len(out) < n:
        serial = "SHM" + "".join(rng.choice(_ALNUM) for _ in range(9))
        if serial in seen:
            continue
        seen.add(serial)
        intune_model, jamf_model, ident = MODELS[rng.randrange(len(MODELS))]
        out.append(SharedMac(len(out), serial, rng.choice(USERS), intune_model, jamf_model, ident))
    return out


def graph_devices(n: int, seed: int = 0) -> list[dict[str, object]]:
    """The shared Macs as Intune managedDevices (every v1.0 property, like generated ones)."""
    import uuid

    from .graph.generate import TEMPLATE

    out: list[dict[str, object]] = []
    for mac in shared_macs(n, seed):
        d = dict(TEMPLATE)
        upn = f"{mac.user}@example.com"
        d.update(
            id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"intune/{seed}/{mac.serial}")),
            azureADDeviceId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"aad/{seed}/{mac.serial}")),
            userId=str(uuid.uuid5(uuid.NAMESPACE_URL, f"user/{mac.user}")),
            deviceName=mac.device_name,
            operatingSystem="macOS",
            osVersion="14.6.1 (23G93)",
            manufacturer="Apple",
            model=mac.intune_model,
            serialNumber=mac.serial,
            userPrincipalName=upn,
            emailAddress=upn,
            userDisplayName=mac.user.replace(".", " ").title(),
            deviceEnrollmentType="appleBulkWithUser",
            enrolledDateTime="2025-03-01T09:00:00Z",
            lastSyncDateTime="2025-11-01T08:00:00Z",
            totalStorageSpaceInBytes=494_384_000_000,
            freeStorageSpaceInBytes=247_192_000_000,
            wiFiMacAddress=f"A0B1C2{mac.index:06X}",
        )
        out.append(d)
    return out


def jamf_computers(n: int, seed: int = 0, first_id: int = 1) -> list[dict[str, object]]:
    """The shared Macs as Jamf computers-inventory records, with ids from `first_id` on."""
    from datetime import UTC, datetime

    from .jamf.data import generate_computers

    # The shape (identity and hardware replaced below), dated from a fixed day: the same every start.
    records = generate_computers(n, seed=seed, now=datetime(2025, 11, 1, tzinfo=UTC))
    for i, (mac, r) in enumerate(zip(shared_macs(n, seed), records, strict=True)):
        r["id"] = str(first_id + i)
        r["general"] = {**r["general"], "name": mac.device_name, "assetTag": None}
        r["hardware"] = {
            **r["hardware"],
            "serialNumber": mac.serial,
            "model": mac.jamf_model,
            "modelIdentifier": mac.jamf_model_identifier,
        }
        r["operatingSystem"] = {"name": "macOS", "version": "14.6.1", "build": "23G93"}
        r["userAndLocation"] = {
            **r["userAndLocation"],
            "username": mac.user,
            "realname": mac.user.replace(".", " ").title(),
            "email": f"{mac.user}@example.com",
        }
    return records
