"""The emulator's own time: starts at a given epoch and moves only when told to."""

from __future__ import annotations

import threading
import time


class Clock:
    def __init__(self, start: int | None = None) -> None:
        self._now = int(time.time()) if start is None else int(start)
        self._lock = threading.Lock()

    def now(self) -> int:
        with self._lock:
            return self._now

    def set(self, when: int) -> None:
        """Move forward to ``when``; time never runs backwards."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"clock cannot go back from {self._now} to {when}")
            self._now = int(when)
