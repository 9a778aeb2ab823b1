"""Client-credentials tokens from ``POST <account>/oauth/token``, cached and shared.

Token answer (reference §1): ``{"access_token", "token_type": "bearer", "expires_in": 86399,
"refresh_token"}``. Asking for a new token does not invalidate older ones, so a plain new
``client_credentials`` request is the simplest renewal.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .classify import error_from_response, parse_body
from .errors import CaspioAuthError, CaspioBadRequest, CaspioError
from .transport import Transport

__all__ = ["OAUTH_TABLE", "TokenGrant", "TokenProvider", "fetch_client_credentials_token"]

#: Table label under which token requests are metered.
OAUTH_TABLE = "oauth"
#: Lifetime assumed when the token answer omits ``expires_in``.
_DEFAULT_LIFETIME = 3600.0


@dataclass(frozen=True)
class TokenGrant:
    access_token: str
    expires_in: float

    def __repr__(self) -> str:  # never show the token
        return f"TokenGrant(expires_in={self.expires_in!r})"


def fetch_client_credentials_token(
    transport: Transport, token_url: str, client_id: str, client_secret: str
) -> TokenGrant:
    """One token request, with the credentials as form fields."""
    response = transport.send(
        "POST",
        token_url,
        OAUTH_TABLE,
        headers={"Accept": "application/json"},
        data={
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        },
    )
    if response.status_code != 200:
        error = error_from_response(response, "POST", OAUTH_TABLE)
        if type(error) is CaspioBadRequest or isinstance(error, CaspioAuthError):
            # A refused grant (bad credentials, disabled profile) is an auth failure.
            raise CaspioAuthError(
                error.message,
                status=error.status,
                code=error.code,
                request_id=error.request_id,
                method="POST",
                table=OAUTH_TABLE,
            )
        raise error
    body = parse_body(response)
    token = body.get("access_token") if isinstance(body, dict) else None
    if not isinstance(token, str) or not token:
        raise CaspioError(
            "token answer has no access_token",
            status=response.status_code,
            method="POST",
            table=OAUTH_TABLE,
        )
    expires_in = body.get("expires_in", _DEFAULT_LIFETIME)
    try:
        lifetime = float(expires_in)
    except (TypeError, ValueError):
        lifetime = _DEFAULT_LIFETIME
    return TokenGrant(token, lifetime)


class TokenProvider:
    """Caches one access token for every thread, renewing it shortly before it expires."""

    def __init__(
        self,
        fetch: Callable[[], TokenGrant],
        *,
        refresh_margin: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._fetch = fetch
        self._refresh_margin = refresh_margin
        self._clock = clock
        # Held while fetching, so concurrent callers wait for one fetch instead of each
        # making their own (every token request is billed).
        self._lock = threading.Lock()
        self._token: str | None = None
        self._renew_at = 0.0

    def __repr__(self) -> str:
        return f"TokenProvider(cached={self._token is not None})"

    def get(self) -> str:
        with self._lock:
            if self._token is not None and self._clock() < self._renew_at:
                return self._token
            asked_at = self._clock()
            grant = self._fetch()
            # Renew early, but never sooner than half the lifetime for short-lived tokens.
            margin = min(self._refresh_margin, grant.expires_in / 2)
            self._token = grant.access_token
            self._renew_at = asked_at + grant.expires_in - margin
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget ``token`` if it is still the cached one (Caspio rejected it)."""
        with self._lock:
            if self._token == token:
                self._token = None
