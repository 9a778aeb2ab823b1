"""OAuth 2 client-credentials tokens as Caspio's ``/oauth/token`` issues them.

Access tokens live ``ttl_seconds`` (Caspio: 86399) on the injected clock; ``expire_all``
ends every token issued so far without waiting. Refresh tokens stay valid (a year in
Caspio) and a refresh issues a new access token and a new refresh token; asking for a
new token does not end earlier ones (SDK tutorial).
"""

from __future__ import annotations

import secrets
import threading
from typing import Any

from sandbox.caspio.clock import Clock

DEFAULT_TTL_SECONDS = 86399


class TokenIssuer:
    def __init__(self, client_id: str, client_secret: str, clock: Clock,
                 ttl_seconds: int = DEFAULT_TTL_SECONDS) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.clock = clock
        self.ttl_seconds = ttl_seconds
        self._lock = threading.Lock()
        self._access: dict[str, float] = {}
        self._refresh: set[str] = set()

    def credentials_match(self, client_id: str | None, client_secret: str | None) -> bool:
        return (secrets.compare_digest(client_id or "", self.client_id)
                and secrets.compare_digest(client_secret or "", self.client_secret))

    def issue(self) -> dict[str, Any]:
        access = secrets.token_urlsafe(48)
        refresh = secrets.token_hex(32)
        with self._lock:
            self._access[access] = self.clock() + self.ttl_seconds
            self._refresh.add(refresh)
        return {"access_token": access, "token_type": "bearer",
                "expires_in": self.ttl_seconds, "refresh_token": refresh}

    def knows_refresh_token(self, token: str) -> bool:
        with self._lock:
            return token in self._refresh

    def state(self, access_token: str) -> str:
        """``valid``, ``expired`` or ``unknown``."""
        with self._lock:
            expires = self._access.get(access_token)
        if expires is None:
            return "unknown"
        return "valid" if self.clock() < expires else "expired"

    def expire_all(self) -> None:
        with self._lock:
            self._access = dict.fromkeys(self._access, float("-inf"))

    def reset(self) -> None:
        with self._lock:
            self._access.clear()
            self._refresh.clear()
