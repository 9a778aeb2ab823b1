"""The ``Stripe-Signature`` header: ``t=<unix>,v1=<hex HMAC-SHA256 of "t.body">``."""

from __future__ import annotations

import hashlib
import hmac
import secrets


def signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str | list[str], timestamp: int, body: bytes) -> str:
    """One ``v1`` per secret (several while a secret is being rolled)."""
    keys = [secret] if isinstance(secret, str) else secret
    v1 = ",".join(f"v1={signature(key, timestamp, body)}" for key in keys)
    # Test mode adds an unverifiable v0 so receivers prove they ignore other schemes.
    return f"t={timestamp},{v1},v0={secrets.token_hex(32)}"
