"""``Idempotency-Key``: the first response is replayed for the same key and parameters."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .errors import idempotency_mismatch

# Stripe prunes keys after 24 hours; we count in emulator time.
KEY_LIFETIME = 24 * 3600
MAX_KEYS = 20_000  # bounds memory in long soak runs (every stripe-python POST has a key)


@dataclass
class StoredResponse:
    fingerprint: str
    status: int
    body: bytes
    created: int


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    raw = json.dumps([method, path, params], sort_keys=True, default=str)
    return hashlib.sha256(raw.encode()).hexdigest()


class IdempotencyCache:
    """Keys are scoped per API key, as Stripe scopes them per account and mode."""

    def __init__(self) -> None:
        self._responses: dict[tuple[str, str], StoredResponse] = {}

    def lookup(self, api_key: str, key: str, fp: str, now: int) -> StoredResponse | None:
        stored = self._responses.get((api_key, key))
        if stored is None:
            return None
        if now - stored.created >= KEY_LIFETIME:
            del self._responses[(api_key, key)]
            return None
        if stored.fingerprint != fp:
            raise idempotency_mismatch(key)
        return stored

    def remember(self, api_key: str, key: str, response: StoredResponse) -> None:
        # Keys arrive in time order, so expired ones sit at the front.
        for old in list(self._responses)[:1000]:
            if response.created - self._responses[old].created < KEY_LIFETIME:
                break
            del self._responses[old]
        if len(self._responses) >= MAX_KEYS:
            # Oldest first: dicts keep insertion order.
            for old in list(self._responses)[: MAX_KEYS // 10]:
                del self._responses[old]
        self._responses[(api_key, key)] = response

    def clear(self) -> None:
        self._responses.clear()
