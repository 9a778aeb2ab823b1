"""An optional request rate limit (Stripe answers 429 ``rate_limit`` beyond it)."""

from __future__ import annotations

import threading
import time


class TokenBucket:
    """``rate`` requests per second on average, bursts up to ``rate`` requests."""

    def __init__(self, rate: float) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._tokens = rate
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            now = time.monotonic()
            self._tokens = min(self.rate, self._tokens + (now - self._last) * self.rate)
            self._last = now
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False
