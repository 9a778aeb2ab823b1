"""Fault injection and call metering for the emulator.

Faults apply to every metered call (``/oauth/token`` and the REST API), in this order:
added latency, outage (503), rate limit (429 or the 400 ``api-calls-rate`` form), dropped
connections, then injected server errors. ``fail_after_commit`` makes an injected error or
drop happen *after* the request was carried out, as when Caspio commits an insert and the
answer is lost.
Caspio bills failed calls too, so the meter counts them all.
"""

from __future__ import annotations

import random
import threading
from collections import Counter, deque
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from sandbox.caspio.clock import Clock


@dataclass(frozen=True)
class FaultSettings:
    #: Seconds added before every metered call is answered.
    latency_seconds: float = 0.0
    #: Probability (0 to 1) that a call answers ``error_status``.
    error_rate: float = 0.0
    error_status: int = 500
    #: The next N calls answer ``error_status`` (deterministic; counts down).
    fail_next: int = 0
    #: With ``fail_next`` or ``drop_next``: carry the request out first, then fail.
    fail_after_commit: bool = False
    #: The next N calls get no answer: the connection is closed (a client sees a
    #: connection error, its meter status 0).
    drop_next: int = 0
    #: At most this many calls per ``rate_limit_window`` seconds (None: no limit).
    rate_limit_calls: int | None = None
    rate_limit_window: float = 1.0
    #: The next N calls are rate limited (deterministic; counts down).
    rate_limit_next: int = 0
    #: Probability (0 to 1) that a call is rate limited (a soak's random 429s).
    rate_limit_rate: float = 0.0
    #: "429" (Code/Message body) or "400" (the ``api-calls-rate`` array body).
    rate_limit_style: str = "429"
    #: Seconds for a ``Retry-After`` header on rate-limited answers (None: no header,
    #: as observed from Caspio).
    rate_limit_retry_after: int | None = None
    #: Clock windows ``[start, end)`` during which every call answers 503.
    outages: tuple[tuple[float, float], ...] = ()
    #: Down now (503) until turned off.
    down: bool = False
    #: Status for an expired token: 401 (documented) or 400 ``IncorrectQueryParameter``
    #: (what PROXY observed "sometimes").
    expired_token_status: int = 401
    #: Without ``q.orderBy`` return rows in a new random order on every call, as SQL Server
    #: gives no stable order (paging unordered results skips and repeats rows).
    shuffle_unordered: bool = False
    #: Share (0 to 1) of ``error_rate`` errors that happen after the call was carried out
    #: (Caspio committed the write, the answer was lost).
    error_after_commit_rate: float = 0.0
    #: Seed for ``error_rate`` and ``rate_limit_rate`` (None: unseeded).
    seed: int | None = None

    def updated(self, changes: dict[str, Any]) -> FaultSettings:
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        if "outages" in changes:
            changes = {**changes, "outages": tuple(
                (float(start), float(end)) for start, end in changes["outages"])}
        result = replace(self, **changes)
        if result.rate_limit_style not in ("429", "400"):
            raise ValueError("rate_limit_style must be '429' or '400'")
        if result.expired_token_status not in (400, 401):
            raise ValueError("expired_token_status must be 400 or 401")
        for name in ("error_rate", "rate_limit_rate", "error_after_commit_rate"):
            if not 0.0 <= getattr(result, name) <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if result.error_status < 500 or result.error_status > 599:
            raise ValueError("error_status must be a 5xx status")
        return result

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["outages"] = [list(window) for window in self.outages]
        return data


@dataclass(frozen=True)
class FaultDecision:
    """What to do with one call: answer at once (``kind``), or after carrying it out."""

    kind: str  # "none", "outage", "rate_limit", "error", "drop"
    after_commit: bool = False


@dataclass
class FaultInjector:
    clock: Clock
    settings: FaultSettings = field(default_factory=FaultSettings)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._window: deque[float] = deque()
        self._random = random.Random(self.settings.seed)

    def configure(self, **changes: Any) -> FaultSettings:
        with self._lock:
            self.settings = self.settings.updated(changes)
            if "seed" in changes:
                self._random = random.Random(self.settings.seed)
            if "rate_limit_calls" in changes or "rate_limit_window" in changes:
                self._window.clear()
            return self.settings

    def reset(self) -> None:
        with self._lock:
            self.settings = FaultSettings()
            self._window.clear()
            self._random = random.Random()

    def decide(self) -> FaultDecision:
        with self._lock:
            settings = self.settings
            now = self.clock()
            if settings.down or any(start <= now < end for start, end in settings.outages):
                return FaultDecision("outage")
            if self._rate_limited(settings, now):
                return FaultDecision("rate_limit")
            if settings.drop_next > 0:
                self.settings = replace(settings, drop_next=settings.drop_next - 1)
                return FaultDecision("drop", after_commit=settings.fail_after_commit)
            if settings.fail_next > 0:
                self.settings = replace(settings, fail_next=settings.fail_next - 1)
                return FaultDecision("error", after_commit=settings.fail_after_commit)
            if settings.error_rate and self._random.random() < settings.error_rate:
                after = bool(settings.error_after_commit_rate) and (
                    self._random.random() < settings.error_after_commit_rate
                )
                return FaultDecision("error", after_commit=after)
            return FaultDecision("none")

    def _rate_limited(self, settings: FaultSettings, now: float) -> bool:
        if settings.rate_limit_next > 0:
            self.settings = replace(settings, rate_limit_next=settings.rate_limit_next - 1)
            return True
        if settings.rate_limit_rate and self._random.random() < settings.rate_limit_rate:
            return True
        if settings.rate_limit_calls is None:
            return False
        while self._window and self._window[0] <= now - settings.rate_limit_window:
            self._window.popleft()
        if len(self._window) >= settings.rate_limit_calls:
            return True
        self._window.append(now)
        return False


class CallMeter:
    """Calls by (method, table, status); see ``sandbox.caspio.app`` for the table names."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[tuple[str, str, int]] = Counter()

    def record(self, method: str, table: str, status: int) -> None:
        with self._lock:
            self._counts[(method, table, status)] += 1

    def snapshot(self) -> dict[tuple[str, str, int], int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()

    def to_json(self) -> dict[str, Any]:
        snapshot = self.snapshot()
        return {
            "total": sum(snapshot.values()),
            "calls": [{"method": m, "table": t, "status": s, "count": c}
                      for (m, t, s), c in sorted(snapshot.items())],
        }
