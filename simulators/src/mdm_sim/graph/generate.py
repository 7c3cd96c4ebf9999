"""Seeded, realistic Intune `managedDevice` objects, fast enough for 100,000 devices in well under 2 s.

The mix follows what the research notes (shared/research/intune-graph-api.md §2, §6) saw in real
tenants: Windows/macOS/iOS/Android, placeholder and VM serials, userless devices, e-mail empty but
UPN set, storage 0, sentinel dates, re-enrolled duplicates (same serial + name, new id).

Speed: each device is a copy of one full template dict with ~20 keys replaced, and most random
choices are drawn in bulk (`Random.choices(k=n)`), so the per-device cost is a few microseconds.
"""

from __future__ import annotations

import gc
import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

# Every v1.0 property, in the order Graph returns them (values are the "empty" defaults seen in lists).
TEMPLATE: dict[str, Any] = {
    "id": "",
    "userId": "",
    "deviceName": "",
    "managedDeviceOwnerType": "company",
    "enrolledDateTime": "",
    "lastSyncDateTime": "",
    "operatingSystem": "",
    "complianceState": "compliant",
    "jailBroken": "Unknown",
    "managementAgent": "mdm",
    "osVersion": "",
    "easActivated": False,
    "easDeviceId": "",
    "easActivationDateTime": "0001-01-01T00:00:00Z",
    "azureADRegistered": True,
    "deviceEnrollmentType": "windowsAzureADJoin",
    "activationLockBypassCode": None,
    "emailAddress": "",
    "azureADDeviceId": "",
    "deviceRegistrationState": "registered",
    "deviceCategoryDisplayName": "Unknown",
    "isSupervised": False,
    "exchangeLastSuccessfulSyncDateTime": "0001-01-01T00:00:00Z",
    "exchangeAccessState": "none",
    "exchangeAccessStateReason": "none",
    "remoteAssistanceSessionUrl": None,
    "remoteAssistanceSessionErrorDetails": None,
    "isEncrypted": True,
    "userPrincipalName": "",
    "model": "",
    "manufacturer": "",
    "imei": "",
    "complianceGracePeriodExpirationDateTime": "9999-12-31T23:59:59Z",
    "serialNumber": "",
    "phoneNumber": "",
    "androidSecurityPatchLevel": "",
    "userDisplayName": "",
    "configurationManagerClientEnabledFeatures": None,
    "wiFiMacAddress": "",
    "deviceHealthAttestationState": None,
    "subscriberCarrier": "",
    "meid": "",
    "totalStorageSpaceInBytes": 0,
    "freeStorageSpaceInBytes": 0,
    "managedDeviceName": None,
    "partnerReportedThreatState": "unknown",
    "requireUserEnrollmentApproval": None,
    "managementCertificateExpirationDate": "",
    "iccid": None,
    "udid": None,
    "notes": None,
    "ethernetMacAddress": None,
    "physicalMemoryInBytes": 0,  # 0 in LIST responses (only a GET by id fills it)
    "deviceActionResults": [],
}

# Hardware per platform: (manufacturer, model, serial style, storage sizes in GB).
_WINDOWS_HW = [
    ("Dell Inc.", "Latitude 5440", "dell", (256, 512)),
    ("Dell Inc.", "Latitude 7430", "dell", (256, 512)),
    ("Dell Inc.", "OptiPlex 7010", "dell", (256, 512, 1024)),
    ("Dell Inc.", "Precision 5570", "dell", (512, 1024)),
    ("LENOVO", "21CB0067US", "lenovo", (256, 512)),
    ("LENOVO", "20XW0026US", "lenovo", (256, 512)),
    ("Lenovo", "ThinkPad T14 Gen 3", "lenovo", (512,)),
    ("HP", "HP EliteBook 840 G9 Notebook PC", "hp", (256, 512)),
    ("HP", "HP ProBook 450 G8 Notebook PC", "hp", (256,)),
    ("Microsoft Corporation", "Surface Laptop 5", "surface", (256, 512)),
    ("Microsoft Corporation", "Surface Pro 9", "surface", (256,)),
    ("Microsoft Corporation", "Cloud PC Enterprise 2vCPU/8GB/128GB", "cloudpc", (128,)),
    ("Microsoft Corporation", "Cloud PC Enterprise 4vCPU/16GB/256GB", "cloudpc", (256,)),
    ("VMware, Inc.", "VMware Virtual Platform", "vmware", (64, 128)),
    ("VMware, Inc.", "VMware7,1", "vmware", (64,)),
    ("ASUSTeK COMPUTER INC.", "ExpertBook B9400CBA", "asus", (512,)),
    ("System manufacturer", "System Product Name", "whitebox", (256, 512)),
]
_WINDOWS_VERSIONS = [
    "10.0.19045.4651",
    "10.0.19045.5011",
    "10.0.22631.4460",
    "10.0.22631.4169",
    "10.0.26100.2314",
]
_MAC_HW = [
    ("Apple", "MacBook Air", "apple", (256, 512)),
    ("Apple", "MacBook Pro", "apple", (512, 1024)),
    ("Apple", "iMac", "apple", (512,)),
    ("Apple", "Mac mini", "apple", (256,)),
]
_MAC_VERSIONS = ["13.6.9 (22G830)", "14.6.1 (23G93)", "14.7 (23H124)", "15.1 (24B83)", "15.1.1 (24B91)"]
_IOS_HW = [
    ("Apple", "iPhone 13", "apple", (128,)),
    ("Apple", "iPhone 14", "apple", (128, 256)),
    ("Apple", "iPhone 15 Pro", "apple", (256,)),
    ("Apple", "iPhone SE (3rd generation)", "apple", (64,)),
    ("Apple", "iPad Air (5th generation)", "apple", (64, 256)),
    ("Apple", "iPad (10th generation)", "apple", (64,)),
]
_IOS_VERSIONS = ["16.7.10", "17.6.1", "17.7", "18.0.1", "18.1"]
_ANDROID_HW = [
    ("samsung", "SM-G991B", "samsung", (128,)),
    ("samsung", "SM-S911B", "samsung", (256,)),
    ("samsung", "SM-A536B", "samsung", (128,)),
    ("Google", "Pixel 7", "google", (128,)),
    ("Google", "Pixel 8 Pro", "google", (256,)),
    ("Zebra Technologies", "TC52", "zebra", (32,)),
    ("Yealink", "RoomPanel", "aosp", (8,)),
]
_ANDROID_VERSIONS = ["12", "13", "14", "15"]

_PLATFORMS = [
    # name, os values, hw, versions, enrollment type, weight
    ("windows", ("Windows",), _WINDOWS_HW, _WINDOWS_VERSIONS, "windowsAzureADJoin", 55),
    ("macos", ("macOS",), _MAC_HW, _MAC_VERSIONS, "appleBulkWithUser", 14),
    ("ios", ("iOS",), _IOS_HW, _IOS_VERSIONS, "appleBulkWithUser", 19),
    ("android", ("Android",), _ANDROID_HW, _ANDROID_VERSIONS, "androidEnterpriseFullyManaged", 12),
]
PLACEHOLDER_SERIALS = (
    "0",
    "Default string",
    "To be filled by O.E.M.",
    "System Serial Number",
    "",
    "Defaultstring",
)
_FIRST = "Aiko Ben Chloe Diego Emma Farid Grace Hiro Ines Jonas Kenji Lena Mateo Nora Omar Priya Quinn Rosa Sven Tara Uma Viktor Wen Yuki Zoe".split()  # noqa: E501
_LAST = "Abe Brown Chen Dubois Evans Fischer Garcia Haddad Ito Jensen Kim Lopez Mori Nakamura Okafor Patel Rossi Sato Tanaka Ueda Vogel Weber Xu Yamada Zimmer".split()  # noqa: E501
_ALNUM = "ABCDEFGHJKLMNPQRSTUVWXYZ0123456789"
_HEX = "0123456789abcdef"
_REG_STATES = (
    ["registered"] * 90 + ["notRegistered"] * 6 + ["notRegisteredPendingEnrollment", "revoked", "keyConflict"]
)
_EPOCH = datetime(2025, 11, 1, tzinfo=UTC)


class _Entropy:
    """Bulk randomness: one `randbytes` call, then cheap slices and byte lookups (the speed trick)."""

    def __init__(self, rng: random.Random, n: int) -> None:
        size = 64 * n + 4096
        raw = rng.randbytes(size)
        self.alnum = raw.translate(_table(_ALNUM)).decode()
        self.digits = raw[::-1].translate(_table("0123456789")).decode()
        self.hex = rng.randbytes(100 * n + 4096).hex()
        self.bytes = rng.randbytes(64 * n + 64)
        self._a = self._d = self._h = self._b = 0
        self._uuids = self._bulk_uuids(rng, 3 * n + 8)

    def text(self, k: int) -> str:
        self._a += k
        return self.alnum[self._a - k : self._a]

    def digit_text(self, k: int) -> str:
        self._d += k
        return self.digits[self._d - k : self._d]

    def hex_text(self, k: int) -> str:
        self._h += k
        return self.hex[self._h - k : self._h]

    def pick(self, seq: Any) -> Any:
        self._b += 1
        return seq[self.bytes[self._b] % len(seq)]

    def below(self, n: int) -> int:  # uniform enough for test data (n <= 65536)
        self._b += 2
        return ((self.bytes[self._b - 1] << 8) | self.bytes[self._b]) % n

    def uuid(self) -> str:
        return next(self._uuids)

    @staticmethod
    def _bulk_uuids(rng: random.Random, k: int) -> Iterator[str]:
        # Version-4 shaped GUIDs formatted in one comprehension: ~3x cheaper than one call each.
        h, v = rng.randbytes(16 * k).hex(), _VARIANT
        return iter(
            [
                f"{h[i : i + 8]}-{h[i + 8 : i + 12]}-4{h[i + 13 : i + 16]}-{v[h[i + 16]]}{h[i + 17 : i + 20]}-{h[i + 20 : i + 32]}"  # noqa: E501
                for i in range(0, 32 * k, 32)
            ]
        )


def _table(alphabet: str) -> bytes:
    return bytes(ord(alphabet[i % len(alphabet)]) for i in range(256))


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in _HEX}
# Dates as strings, computed once: 1500 days back from the epoch, and every minute of a day.
_DAYS = [(_EPOCH - timedelta(days=k)).strftime("%Y-%m-%d") for k in range(1501)]
_MINUTES = [f"{m // 60:02d}:{m % 60:02d}" for m in range(1440)]
_SECONDS = [f"{s:02d}" for s in range(60)]
_SENTINEL_MIN = "0001-01-01T00:00:00Z"


def _stamp(e: _Entropy, max_days: int, frac: bool) -> tuple[int, str]:
    day = e.below(max_days + 1)
    t = f"{_DAYS[day]}T{_MINUTES[e.below(1440)]}:{_SECONDS[e.below(60)]}"
    return day, (f"{t}.{e.digit_text(7)}Z" if frac else f"{t}Z")


def _serial(e: _Entropy, style: str) -> str:
    if style == "dell":
        return e.text(7)
    if style == "lenovo":
        return "PF" + e.text(6)
    if style == "hp":
        return "5CG" + e.text(7)
    if style == "surface":
        return "0" + e.digit_text(11)
    if style == "apple":
        return e.text(10 if e.below(10) < 6 else 12)
    if style == "samsung":
        return "R5" + e.text(9)
    if style == "cloudpc":  # Windows 365 / Hyper-V style, as in the real sample
        d = e.digit_text(24)
        return f"0000-{d[0:4]}-{d[4:8]}-{d[8:12]}-{d[12:16]}-{d[16:20]}-{d[20:22]}"
    if style == "vmware":  # Intune reports the space-less form
        return f"VMware-{e.hex_text(16)}-{e.hex_text(16)}"
    if style == "whitebox":
        return str(e.pick(PLACEHOLDER_SERIALS[:4]))
    return e.text(10)


def generate_devices(n: int, seed: int = 0, *, domain: str = "contoso.com") -> list[dict[str, Any]]:
    """`n` managedDevice dicts, the same for the same (n, seed). ~1.5 % are re-enrolled duplicates."""
    # Millions of young objects and no garbage: the cyclic GC would only rescan them, again and again.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _generate(n, seed, domain)
    finally:
        if was_enabled:
            gc.enable()


def _generate(n: int, seed: int, domain: str) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    platforms = rng.choices(_PLATFORMS, weights=[p[5] for p in _PLATFORMS], k=n)
    rolls = [rng.random() for _ in range(n)]  # one uniform per device drives the rarer quirks
    e = _Entropy(rng, n)
    out: list[dict[str, Any]] = []
    for i in range(n):
        name, os_names, hw, versions, enrollment, _ = platforms[i]
        r = rolls[i]
        if i > 20 and r < 0.015:  # re-enrolled: same serial + deviceName as an earlier device, new id
            d = dict(out[e.below(len(out)) if len(out) < 65536 else i - 1 - e.below(65536)])
            d["id"] = e.uuid()
            d["azureADDeviceId"] = e.uuid()
            d["enrolledDateTime"] = _stamp(e, 30, False)[1]
            d["lastSyncDateTime"] = _stamp(e, 1, True)[1]
            out.append(d)
            continue
        manufacturer, model, style, sizes = e.pick(hw)
        first, last = e.pick(_FIRST), e.pick(_LAST)
        d = dict(TEMPLATE)
        d["id"] = e.uuid()
        d["azureADDeviceId"] = aad_id = e.uuid()
        # iPads report either "iOS" or "iPadOS" (research §2); iPhones always "iOS".
        d["operatingSystem"] = e.pick(("iOS", "iPadOS")) if model.startswith("iPad") else os_names[0]
        d["osVersion"] = e.pick(versions)
        d["manufacturer"] = manufacturer
        d["model"] = model
        d["deviceEnrollmentType"] = enrollment
        # Placeholder serials also show up on real hardware (BIOS not filled in), not only white boxes.
        d["serialNumber"] = e.pick(PLACEHOLDER_SERIALS) if 0.95 <= r <= 0.97 else _serial(e, style)
        total = 0 if 0.90 < r < 0.93 else e.pick(sizes) * (930_000_000 + e.below(50_000) * 1000)
        d["totalStorageSpaceInBytes"] = total
        d["freeStorageSpaceInBytes"] = total // 100 * e.below(80)
        frac = r < 0.5  # about half the timestamps carry Graph's 7 fractional digits
        age, enrolled = _stamp(e, 1500, frac)
        d["enrolledDateTime"] = _SENTINEL_MIN if 0.60 < r < 0.603 else enrolled
        d["lastSyncDateTime"] = _SENTINEL_MIN if 0.70 < r < 0.71 else _stamp(e, min(age, 30), frac)[1]
        d["managementCertificateExpirationDate"] = f"{_DAYS[max(age - 365, 0)]}T00:00:00Z"
        d["deviceRegistrationState"] = "unknownFutureValue" if 0.80 < r < 0.801 else e.pick(_REG_STATES)
        d["complianceState"] = "noncompliant" if r > 0.88 else "compliant"
        d["wiFiMacAddress"] = e.hex_text(12).upper()
        if style == "cloudpc" or 0.30 < r < 0.36:  # userless: kiosk, DEP without user, Cloud PC pool
            tag = e.text(8)
            d["deviceName"] = f"CPC-{first.lower()[:5]}-{tag[:5]}" if style == "cloudpc" else f"KIOSK-{tag}"
        else:
            upn = f"{first.lower()}.{last.lower()}{e.below(100)}@{domain}"
            d["userId"] = e.uuid()
            d["userPrincipalName"] = upn
            # E-mail is empty on many real devices while the UPN is set (R-I6: fall back to UPN).
            d["emailAddress"] = "" if 0.40 < r < 0.60 else upn
            d["userDisplayName"] = f"{first} {last}"
            d["deviceName"] = _device_name(e, name, first, last, model)
            d["managedDeviceOwnerType"] = "personal" if 0.85 < r < 0.88 else "company"
        if name == "windows":
            d["managedDeviceName"] = f"{aad_id}_Windows_{enrolled[5:7]}/{enrolled[8:10]}/{enrolled[:4]}"
        elif name == "ios":
            d["isSupervised"] = True
            d["imei"] = "35" + e.digit_text(13)
            d["deviceCategoryDisplayName"] = ""
        elif name == "android":
            d["androidSecurityPatchLevel"] = f"2024-{1 + e.below(12):02d}-01"
            d["managementAgent"] = "googleCloudDevicePolicyController"
        out.append(d)
    return out


def _device_name(e: _Entropy, platform: str, first: str, last: str, model: str) -> str:
    if platform == "windows":
        return f"DESKTOP-{e.text(7)}" if e.below(2) else f"LT-{last.upper()[:6]}-{e.text(4)}"
    if platform == "macos":
        return f"{first}'s {model}"
    if platform == "ios":
        kind = model.split(" ")[0]
        return f"{first}'s {kind}" if e.below(10) < 7 else kind
    return f"{first.lower()}_AndroidEnterprise_{e.text(4)}"
