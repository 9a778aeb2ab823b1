"""An injectable clock, so tests move time instead of sleeping."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable

Clock = Callable[[], float]
"""Seconds since the epoch, like ``time.time``."""


class ManualClock:
    """A clock that only moves when told to (``advance``)."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds


def utc_datetime(clock: Clock) -> dt.datetime:
    """The clock's time as a naive UTC datetime (Caspio keeps no zone)."""
    return dt.datetime.fromtimestamp(clock(), dt.timezone.utc).replace(tzinfo=None)


system_clock: Clock = time.time
