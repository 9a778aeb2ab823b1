"""Stripe-Signature verification on the raw request bytes (pure; the clock is passed in).

Header: `t=<unix seconds>,v1=<hex hmac>[,v1=…][,v0=…]`. The signed text is `t.` followed by
the raw body; any `v1` matching any configured secret passes, which is how a secret is rolled
(Stripe signs with both while the old one is still valid). `v0` and unknown schemes are
ignored, as Stripe asks.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable

DEFAULT_TOLERANCE_SECONDS = 300


class SignatureError(ValueError):
    """The request is not provably from Stripe; the message is safe to send back."""


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """A valid header for `body`; used by tests and the replay tooling."""
    return f"t={timestamp},v1={compute_signature(secret, timestamp, body)}"


# Stripe sends one `v1` per active secret (two while a secret is rolled) and a few other
# entries (`t`, `v0`). Capping them bounds what an unauthenticated request can cost: at most
# one HMAC per configured secret, whatever the header says.
MAX_V1_SIGNATURES = 8
MAX_HEADER_ENTRIES = 16
MAX_HEADER_LENGTH = 2048


def _parse(header: str) -> tuple[int, list[str]]:
    if len(header) > MAX_HEADER_LENGTH:
        raise SignatureError("signature header too long")
    parts = header.split(",", MAX_HEADER_ENTRIES)
    if len(parts) > MAX_HEADER_ENTRIES:
        raise SignatureError("signature header has too many entries")
    timestamp: int | None = None
    signatures: list[str] = []
    for part in parts:
        key, sep, value = part.strip().partition("=")
        if not sep:
            continue
        if key == "t":
            try:
                timestamp = int(value)
            except ValueError:
                raise SignatureError("malformed signature timestamp") from None
        elif key == "v1" and value:
            signatures.append(value)
    if timestamp is None:
        raise SignatureError("signature header has no timestamp")
    if not signatures:
        raise SignatureError("signature header has no v1 signature")
    if len(signatures) > MAX_V1_SIGNATURES:
        raise SignatureError("signature header has too many v1 signatures")
    return timestamp, signatures


def verify(
    body: bytes,
    header: str | None,
    secrets: Iterable[str],
    *,
    now: float,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> int:
    """Raise SignatureError unless a v1 signature matches; returns the signed timestamp."""
    if not header:
        raise SignatureError("missing Stripe-Signature header")
    timestamp, signatures = _parse(header)
    keys = [s for s in secrets if s]
    if not keys:
        raise SignatureError("no webhook secret configured")
    # One HMAC per secret (never per candidate), each compared with every v1 entry.
    expected = [compute_signature(key, timestamp, body) for key in keys]
    matched = any(
        hmac.compare_digest(mine.encode("ascii"), candidate.encode("utf-8", "replace"))
        for mine in expected
        for candidate in signatures
    )
    if not matched:
        raise SignatureError("signature does not match")
    # Checked after the HMAC so that a stale but genuine request is told apart from a forgery
    # only by someone who holds a secret.
    if tolerance and timestamp < now - tolerance:
        raise SignatureError("signature timestamp too old")
    return timestamp
