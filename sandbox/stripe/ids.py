"""Object ids with Stripe's prefixes (``cus_…``, ``sub_…``, ``in_…``)."""

from __future__ import annotations

import random
import secrets
import string
import threading

_ALPHABET = string.ascii_letters + string.digits

# Stripe's short ids (customers, products) are 14 characters, the rest 24.
_SHORT = {"cus", "prod"}

PREFIX_TO_TYPE = {
    "prod": "product",
    "price": "price",
    "cus": "customer",
    "pm": "payment_method",
    "sub": "subscription",
    "si": "subscription_item",
    "in": "invoice",
    "il": "line_item",
    "inpay": "invoice_payment",
    "pi": "payment_intent",
    "ch": "charge",
    "evt": "event",
    "we": "webhook_endpoint",
    "cs": "checkout.session",
    "bps": "billing_portal.session",
    "re": "refund",
    "dp": "dispute",
    "po": "payout",
    "seti": "setup_intent",
    "ii": "invoiceitem",
    "clock": "test_helpers.test_clock",
}


class IdFactory:
    """Random ids; a seed makes a run reproducible."""

    def __init__(self, seed: int | None = None) -> None:
        # Ids need to be unique, not secret: a fast generator seeded once.
        self._rng = random.Random(seed if seed is not None else secrets.randbits(64))
        self._seeded = seed is not None
        self._lock = threading.Lock()

    def _chars(self, n: int) -> str:
        with self._lock:
            return "".join(self._rng.choices(_ALPHABET, k=n))

    def new(self, prefix: str) -> str:
        return f"{prefix}_{self._chars(14 if prefix in _SHORT else 24)}"

    def secret(self, prefix: str, length: int = 32) -> str:
        """Webhook secrets and client secrets: unguessable unless a seed was given."""
        if self._seeded:
            return f"{prefix}_{self._chars(length)}"
        return f"{prefix}_{''.join(secrets.choice(_ALPHABET) for _ in range(length))}"


def type_of(object_id: str) -> str | None:
    """The object type an id belongs to, from its prefix."""
    prefix, _, _ = object_id.partition("_")
    return PREFIX_TO_TYPE.get(prefix)
