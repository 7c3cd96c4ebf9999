"""Server-side sessions: the API token never reaches the browser.

The browser holds only a random session id in an HttpOnly, SameSite=Strict cookie (Secure over
TLS). The store is in memory, keyed by that id: a restart of the console signs everyone out, and
several console replicas would need sticky sessions (or a shared store behind this same class).
Each session has its own CSRF token, checked on every POST.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field

from .api import Scope

COOKIE = "ledger_console_session"


@dataclass
class Session:
    session_id: str
    token: str = field(repr=False)
    scope: Scope
    time_zone: str
    csrf_token: str = field(repr=False)
    created_at: float
    last_used_at: float
    # False while the zone is a guess (the API serves no tenant settings): looked at again later.
    time_zone_final: bool = False
    time_zone_checked_at: float = 0.0

    @property
    def can_write(self) -> bool:
        return self.scope == "admin"

    def csrf_ok(self, submitted: str | None) -> bool:
        return bool(submitted) and hmac.compare_digest(self.csrf_token, submitted or "")


class SessionStore:
    def __init__(self, ttl_seconds: float, *, max_sessions: int = 10_000) -> None:
        self._ttl = ttl_seconds
        self._max = max_sessions
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, token: str, scope: Scope, time_zone: str, *, time_zone_final: bool = False) -> Session:
        now = time.monotonic()
        session = Session(
            session_id=secrets.token_urlsafe(32),
            token=token,
            scope=scope,
            time_zone=time_zone,
            csrf_token=secrets.token_urlsafe(32),
            created_at=now,
            last_used_at=now,
            time_zone_final=time_zone_final,
            time_zone_checked_at=now,
        )
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= self._max:  # drop the least recently used
                oldest = min(self._sessions.values(), key=lambda s: s.last_used_at)
                del self._sessions[oldest.session_id]
            self._sessions[session.session_id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if now - session.last_used_at > self._ttl:
                del self._sessions[session_id]
                return None
            session.last_used_at = now
            return session

    def drop(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

    def _expire(self, now: float) -> None:
        for sid in [s.session_id for s in self._sessions.values() if now - s.last_used_at > self._ttl]:
            del self._sessions[sid]

    def __len__(self) -> int:
        return len(self._sessions)
