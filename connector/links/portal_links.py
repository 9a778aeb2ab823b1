"""Signed, expiring portal links: `<public>/portal/<CustomerKey>?token=<expires>.<signature>`.

The signature is HMAC-SHA256 over `portal|<CustomerKey>|<expires>` with a key derived from
BRIDGE_LINK_SECRET, or, when that is unset, from STRIPE_SECRET_KEY. Derivation is
HMAC-SHA256(secret, label): the key never leaves the process, the secret is never in a URL,
and a leaked link key would not reveal the Stripe key. Nothing is stored: a link is valid
while its signature verifies and its expiry (unix seconds) is ahead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from connector.settings import Settings

_LABEL = b"caspio-stripe portal link v1"
_TOKEN_SHAPE = re.compile(r"([0-9]{1,12})\.([A-Za-z0-9_-]{43})")


def link_key(settings: Settings) -> bytes:
    """32 bytes derived from BRIDGE_LINK_SECRET (else STRIPE_SECRET_KEY); never shown."""
    secret = settings.bridge_link_secret or settings.stripe_secret_key
    return hmac.new(secret.reveal().encode("utf-8"), _LABEL, hashlib.sha256).digest()


@dataclass(frozen=True)
class PortalLinks:
    key: bytes
    public_url: str
    days: int = 30
    clock: Callable[[], float] = time.time

    def __repr__(self) -> str:  # the key must never reach a log line
        return f"PortalLinks(public_url={self.public_url!r}, days={self.days})"

    @classmethod
    def from_settings(
        cls, settings: Settings, *, clock: Callable[[], float] = time.time
    ) -> PortalLinks:
        return cls(link_key(settings), settings.bridge_public_url, settings.bridge_link_days, clock)

    def _signature(self, customer_key: str, expires: int) -> str:
        message = f"portal|{customer_key}|{expires}".encode()
        digest = hmac.new(self.key, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")

    def token_for(self, customer_key: str) -> str:
        """`<expires>.<signature>`, valid for `days` from now."""
        expires = int(self.clock() + self.days * 86400)
        return f"{expires}.{self._signature(customer_key, expires)}"

    def url_for(self, customer_key: str) -> str:
        token = self.token_for(customer_key)
        return f"{self.public_url.rstrip('/')}/portal/{quote(customer_key, safe='')}?token={token}"

    def check(self, customer_key: str, token: str | None) -> str | None:
        """None when `token` is a valid, unexpired link for `customer_key`; else why not:
        `invalid` (malformed, forged, or for another customer) or `expired`."""
        match = _TOKEN_SHAPE.fullmatch(token or "")
        if match is None:
            return "invalid"
        expires = int(match.group(1))
        expected = self._signature(customer_key, expires)
        if not hmac.compare_digest(expected, match.group(2)):
            return "invalid"
        if self.clock() >= expires:
            return "expired"
        return None
