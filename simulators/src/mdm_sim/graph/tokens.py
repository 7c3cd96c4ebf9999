"""Access tokens the simulated Entra ID issues and the simulated Graph accepts.

The lifetime the simulator enforces (`lifetime_s`) is separate from the `expires_in` it reports, so a
test can make a token die while MSAL still believes it is fresh — what "Lifetime validation failed,
the token is expired" looks like to a long crawl against real Graph.
"""

from __future__ import annotations

import base64
import json
import secrets
import time
from dataclasses import dataclass


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data, separators=(",", ":")).encode()).rstrip(b"=").decode()


@dataclass
class _Issued:
    expires_at: float
    revoked: bool = False


class TokenIssuer:
    def __init__(self, tenant_id: str, client_id: str, lifetime_s: float) -> None:
        self.tenant_id = tenant_id
        self.client_id = client_id
        self.lifetime_s = lifetime_s
        self._issued: dict[str, _Issued] = {}

    def issue(self) -> str:
        now = int(time.time())
        claims = {
            "aud": "https://graph.microsoft.com",
            "iss": f"https://sts.windows.net/{self.tenant_id}/",
            "iat": now,
            "nbf": now,
            "exp": now + int(self.lifetime_s),
            "appid": self.client_id,
            "roles": ["DeviceManagementManagedDevices.Read.All"],
            "tid": self.tenant_id,
            "jti": secrets.token_hex(8),
        }
        # JWT-shaped (header.payload.signature), not verifiable: no client may rely on its content.
        token = f"{_b64({'typ': 'JWT', 'alg': 'RS256'})}.{_b64(claims)}.{secrets.token_urlsafe(32)}"
        self._issued[token] = _Issued(time.monotonic() + self.lifetime_s)
        return token

    def check(self, authorization: str | None) -> str | None:
        """None when the header carries a valid token, else Graph's error message."""
        if not authorization or not authorization.startswith("Bearer "):
            return "Access token is empty."
        issued = self._issued.get(authorization[7:].strip())
        if issued is None:
            return "Access token validation failure. Invalid signature."
        if issued.revoked:
            return "Access token has been revoked."
        if time.monotonic() >= issued.expires_at:
            return "Lifetime validation failed, the token is expired."
        return None

    def expire_all(self) -> int:
        now = time.monotonic()
        for t in self._issued.values():
            t.expires_at = min(t.expires_at, now)
        return len(self._issued)

    def revoke_all(self) -> int:
        for t in self._issued.values():
            t.revoked = True
        return len(self._issued)

    def issued(self) -> list[str]:
        """Every token handed out (tests grep logs for them)."""
        return list(self._issued)
