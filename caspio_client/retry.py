"""Bounded retries with exponential back-off, jitter and ``Retry-After``.

Both the sleep and the clock are injectable so tests can run every retry path without
really waiting.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

import tenacity

__all__ = ["RetryPolicy"]

T = TypeVar("T")
log = logging.getLogger("caspio_client")


@dataclass
class RetryPolicy:
    """How often and how long one logical call may be retried."""

    max_attempts: int = 5
    #: Total time budget for one call, waits included; a wait that would cross it is not taken.
    max_seconds: float = 60.0
    base_delay: float = 0.5
    max_delay: float = 30.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic
    rng: random.Random = field(default_factory=random.Random)
    #: Called before each wait with (the error, seconds about to be waited): metrics hooks.
    on_retry: list[Callable[[BaseException, float], None]] = field(default_factory=list)

    def backoff(self, retry_number: int) -> float:
        """Wait before retry ``retry_number`` (1-based): 2^n growth, 50-100 % jitter."""
        ceiling = min(self.max_delay, self.base_delay * 2.0 ** (retry_number - 1))
        return ceiling * (0.5 + 0.5 * self.rng.random())

    def call(self, fn: Callable[[], T], should_retry: Callable[[BaseException], bool]) -> T:
        budget = _CallBudget(self, self.clock())
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(should_retry),
            wait=budget.wait,
            stop=budget.stop,
            sleep=self.sleep,
            before_sleep=self._before_sleep,
            reraise=True,
        )
        return retrying(fn)

    def _before_sleep(self, state: tenacity.RetryCallState) -> None:
        _log_retry(state)
        error = state.outcome.exception() if state.outcome else None
        wait = state.next_action.sleep if state.next_action else 0.0
        if error is not None:
            for observer in self.on_retry:
                observer(error, wait)


class _CallBudget:
    """Per-call state: the start time and the wait chosen after each failed attempt."""

    def __init__(self, policy: RetryPolicy, started: float) -> None:
        self._policy = policy
        self._started = started
        self._waits: dict[int, float] = {}

    def _wait_after(self, state: tenacity.RetryCallState) -> float:
        # Memoised so stop and wait agree whatever order tenacity calls them in.
        attempt = state.attempt_number
        if attempt not in self._waits:
            error = state.outcome.exception() if state.outcome else None
            retry_after = getattr(error, "retry_after", None)
            self._waits[attempt] = (
                float(retry_after) if retry_after is not None else self._policy.backoff(attempt)
            )
        return self._waits[attempt]

    def wait(self, state: tenacity.RetryCallState) -> float:
        return self._wait_after(state)

    def stop(self, state: tenacity.RetryCallState) -> bool:
        if state.attempt_number >= self._policy.max_attempts:
            return True
        elapsed = self._policy.clock() - self._started
        return elapsed + self._wait_after(state) > self._policy.max_seconds


def _log_retry(state: tenacity.RetryCallState) -> None:
    error = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    # str(CaspioError) holds method, table, status, code and request id, never secrets.
    log.warning(
        "Caspio call failed (attempt %d), retrying in %.2fs: %s", state.attempt_number, wait, error
    )
