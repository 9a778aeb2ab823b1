"""Counts every HTTP call made to Caspio.

Caspio bills each API call, failed ones included, so every request (token requests too)
is counted by (method, table, status). Status 0 means no HTTP answer was received.
"""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["CallKey", "CallMeter"]

#: (HTTP method, table name or "oauth" or "", HTTP status or 0)
CallKey = tuple[str, str, int]


class CallMeter:
    """Thread-safe counter of calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[CallKey] = Counter()

    def record(self, method: str, table: str, status: int) -> None:
        with self._lock:
            self._counts[(method.upper(), table, status)] += 1

    def snapshot(self) -> dict[CallKey, int]:
        """A copy of the counts; later calls do not change it."""
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()
