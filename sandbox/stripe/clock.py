"""The emulator's own time: starts at a given epoch and moves only when told to.

Besides the emulator's time, a request or a step of a test clock's advance can run at the
frozen time of a Stripe test clock (``frozen``): ``now()`` answers that time in the thread
doing the work, ``global_now()`` always the emulator's own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager


class Clock:
    def __init__(self, start: int | None = None) -> None:
        self._now = int(time.time()) if start is None else int(start)
        self._lock = threading.Lock()
        self._local = threading.local()

    def now(self) -> int:
        override: int | None = getattr(self._local, "frozen", None)
        if override is not None:
            return override
        with self._lock:
            return self._now

    def global_now(self) -> int:
        """The emulator's time, whatever test clock the current work runs on."""
        with self._lock:
            return self._now

    @contextmanager
    def frozen(self, when: int | None) -> Iterator[None]:
        """Run the block at ``when`` (a test clock's frozen time); None: emulator time."""
        previous = getattr(self._local, "frozen", None)
        self._local.frozen = when
        try:
            yield
        finally:
            self._local.frozen = previous

    def restart(self, start: int | None = None) -> None:
        """Back to ``start`` (None: the real time now), for a reset that forgets every object;
        the only way time moves backwards."""
        with self._lock:
            self._now = int(time.time()) if start is None else int(start)

    def set(self, when: int) -> None:
        """Move forward to ``when``; time never runs backwards."""
        with self._lock:
            if when < self._now:
                raise ValueError(f"clock cannot go back from {self._now} to {when}")
            self._now = int(when)
