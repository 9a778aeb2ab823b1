"""Counts every HTTP call made to Caspio.

Caspio bills each API call, failed ones included, so every request (token requests too)
is counted by (method, table, status). Status 0 means no HTTP answer was received.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

__all__ = ["CallKey", "CallListener", "CallMeter"]

#: (HTTP method, table name or "oauth" or "", HTTP status or 0)
CallKey = tuple[str, str, int]
#: Told of each call as it is recorded: listener(method, table, status).
CallListener = Callable[[str, str, int], None]


class CallMeter:
    """Thread-safe counter of calls."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[CallKey] = Counter()
        self._listeners: list[CallListener] = []

    def record(self, method: str, table: str, status: int) -> None:
        key = (method.upper(), table, status)
        with self._lock:
            self._counts[key] += 1
            listeners = tuple(self._listeners)
        for listener in listeners:
            listener(*key)

    def subscribe(self, listener: CallListener) -> None:
        """Tell `listener(method, table, status)` of every call recorded from now on, e.g. a
        Prometheus counter that several processes add up (a snapshot is one process's)."""
        with self._lock:
            self._listeners.append(listener)

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
