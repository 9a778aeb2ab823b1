"""Readiness: named checks `/readyz` runs; any failing check makes it answer 503.

A check is a function returning `None` when fine, else a short reason (one line, no
secrets). A check that raises is failing too, its reason the exception's type. Other parts
register their own: `services.readiness.register("stripe_api_version", check)`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from connector.store import Store

Check = Callable[[], "str | None"]

DEFAULT_MAX_BACKLOG = 1000
# A worker beats at least once per loop and per event; one event may wait for Caspio's
# retries (60 s budget per call, a few calls), so allow several minutes before "stuck".
DEFAULT_WORKER_STALE_SECONDS = 600.0


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    reason: str | None = None


class Readiness:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._checks: dict[str, Check] = {}

    def register(self, name: str, check: Check) -> None:
        """Add or replace the check called `name`."""
        with self._lock:
            self._checks[name] = check

    def unregister(self, name: str) -> None:
        with self._lock:
            self._checks.pop(name, None)

    @property
    def names(self) -> list[str]:
        with self._lock:
            return list(self._checks)

    def evaluate(self) -> list[CheckResult]:
        """Run every check, in registration order."""
        with self._lock:
            checks = list(self._checks.items())
        results: list[CheckResult] = []
        for name, check in checks:
            try:
                reason = check()
            except Exception as error:  # a broken dependency is "not ready", never a 500
                reason = f"{type(error).__name__}"
            results.append(CheckResult(name, reason is None, reason))
        return results


def store_check(store_source: Callable[[], Store], max_backlog: int) -> Check:
    """The store answers a real query on the inbox, and the backlog is under `max_backlog`."""

    def check() -> str | None:
        import sqlalchemy.exc

        from connector.metrics import inbox_backlog

        store = store_source()
        problem = store.database_file_problem()
        if problem is not None:
            return f"store unreachable: {problem}"
        try:
            backlog = inbox_backlog(store)
        except sqlalchemy.exc.SQLAlchemyError as error:
            cause = getattr(error, "orig", None) or error
            return f"store unreachable: {type(cause).__name__}"
        if backlog.count > max_backlog:
            return f"inbox backlog {backlog.count} over {max_backlog}"
        return None

    return check


class Heartbeat:
    """Beaten by a worker each loop and each event; read by the readiness check."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.last = clock()

    def beat(self) -> None:
        self.last = self.clock()

    def age(self) -> float:
        return self.clock() - self.last


def worker_check(
    alive: Callable[[], bool],
    heartbeat: Heartbeat,
    stale_after: float = DEFAULT_WORKER_STALE_SECONDS,
) -> Check:
    def check() -> str | None:
        if not alive():
            return "worker thread stopped"
        age = heartbeat.age()
        if age > stale_after:
            return f"worker silent for {age:.0f}s"
        return None

    return check
