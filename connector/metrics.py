"""The bridge's Prometheus metrics, on `prometheus_client`, one registry per app.

Each `Services` owns one `BridgeMetrics` (`services.metrics`) with its own
`CollectorRegistry`, never the process-global one, so that tests and several apps in one
process do not collide. Counting is one call, e.g. `metrics.ignored(event_type, "reason")`
(the API is listed in docs/contracts.md). Call meters that already exist (the Caspio
client's and the Stripe gateway's) and the inbox are read when scraped, not copied.
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from connector.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Seconds per event, from sub-millisecond skips to a Caspio outage's retried calls.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

MeterSnapshot = Callable[[], dict[tuple[str, str, int], int]]


class BridgeMetrics:
    """Counters the bridge moves as it works, plus collectors read at scrape time.

    Event counters are labelled by Stripe event `type`; `reason`s are short snake_case
    words (`bad_signature`, `unhandled_type`), never a message that could carry data.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self._received = Counter(
            "bridge_events_received",
            "Stripe events stored by the webhook endpoint.",
            ["type"],
            registry=r,
        )
        self._duplicates = Counter(
            "bridge_events_duplicate",
            "Stripe deliveries of an event already stored.",
            ["type"],
            registry=r,
        )
        self._rejected = Counter(
            "bridge_webhooks_rejected",
            "Webhook requests refused (nothing stored).",
            ["reason"],
            registry=r,
        )
        self._processed = Counter(
            "bridge_events_processed",
            "Events the worker applied to Caspio.",
            ["type"],
            registry=r,
        )
        self._ignored = Counter(
            "bridge_events_ignored",
            "Events acknowledged without a Caspio write.",
            ["type", "reason"],
            registry=r,
        )
        self._dead = Counter(
            "bridge_events_dead",
            "Events parked as dead after their last attempt.",
            ["type"],
            registry=r,
        )
        self._retried = Counter(
            "bridge_event_retries",
            "Failed event attempts scheduled for another try.",
            ["type"],
            registry=r,
        )
        self._latency = Histogram(
            "bridge_event_processing_seconds",
            "Time to apply one event, failed ones too.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self._api_retries = Counter(
            "bridge_api_retries",
            "Caspio or Stripe calls retried by the bridge's clients.",
            ["api", "reason"],
            registry=r,
        )
        self._rate_limit_waits = Counter(
            "bridge_rate_limit_waits",
            "Waits after a rate-limit (429) answer.",
            ["api"],
            registry=r,
        )
        self._rate_limit_seconds = Counter(
            "bridge_rate_limit_wait_seconds",
            "Seconds spent waiting after a 429.",
            ["api"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._collectors: list[Collector] = []

    # -- the counting API (docs/contracts.md) -------------------------------------------

    def received(self, event_type: str) -> None:
        self._received.labels(event_type).inc()

    def duplicate(self, event_type: str) -> None:
        self._duplicates.labels(event_type).inc()

    def rejected(self, reason: str) -> None:
        self._rejected.labels(reason).inc()

    def processed(self, event_type: str, seconds: float) -> None:
        self._processed.labels(event_type).inc()
        self._latency.labels(event_type).observe(seconds)

    def ignored(self, event_type: str, reason: str) -> None:
        self._ignored.labels(event_type, reason).inc()

    def retried(self, event_type: str, seconds: float) -> None:
        self._retried.labels(event_type).inc()
        self._latency.labels(event_type).observe(seconds)

    def dead(self, event_type: str, seconds: float | None = None) -> None:
        self._dead.labels(event_type).inc()
        if seconds is not None:
            self._latency.labels(event_type).observe(seconds)

    def api_retry(self, api: str, reason: str) -> None:
        self._api_retries.labels(api, reason).inc()

    def rate_limit_wait(self, api: str, seconds: float) -> None:
        self._rate_limit_waits.labels(api).inc()
        self._rate_limit_seconds.labels(api).inc(max(0.0, seconds))

    # -- scrape-time sources ------------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Register a collector on this registry (once per collector object)."""
        with self._lock:
            if collector in self._collectors:
                return
            self._collectors.append(collector)
        self.registry.register(collector)

    def watch_calls(self, api: str, snapshot: MeterSnapshot) -> None:
        """Export a call meter (`(method, table-or-path, status) -> calls`) as
        `bridge_<api>_calls_total{operation, target, status}`."""
        self.add_collector(CallMeterCollector(api, snapshot))

    def watch_inbox(
        self, store_source: Callable[[], Store], clock: Callable[[], float] = time.time
    ) -> None:
        """Export the inbox (`store_source()` opens the store, possibly lazily)."""
        self.add_collector(InboxCollector(store_source, clock))

    def exposition(self) -> bytes:
        """The Prometheus text format of everything registered."""
        return generate_latest(self.registry)


class CallMeterCollector(Collector):
    def __init__(self, api: str, snapshot: MeterSnapshot) -> None:
        self.api = api
        self.snapshot = snapshot

    def collect(self) -> Iterable[Metric]:
        calls = CounterMetricFamily(
            f"bridge_{self.api}_calls",
            f"{self.api.capitalize()} API calls by operation (HTTP method), target and status "
            "(0: no answer).",
            labels=["operation", "target", "status"],
        )
        limited = CounterMetricFamily(
            f"bridge_{self.api}_rate_limited_calls",
            f"{self.api.capitalize()} calls answered 429.",
        )
        rate_limited = 0
        for (method, target, status), count in sorted(self.snapshot().items()):
            calls.add_metric([method, target, str(status)], float(count))
            if status == 429:
                rate_limited += count
        limited.add_metric([], float(rate_limited))
        yield calls
        yield limited


class InboxCollector(Collector):
    """Inbox size by type and status, the backlog and the oldest pending event's age."""

    def __init__(self, store_source: Callable[[], Store], clock: Callable[[], float]) -> None:
        self.store_source = store_source
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        import sqlalchemy.exc

        from connector.sync.inbox import Inbox

        up = GaugeMetricFamily("bridge_store_up", "1 when the bridge's store answered the scrape.")
        try:
            store = self.store_source()
            counts = Inbox(store).counts()
            backlog = inbox_backlog(store)
        except sqlalchemy.exc.SQLAlchemyError:
            # The store is gone: /metrics still answers (and /readyz says 503).
            up.add_metric([], 0.0)
            yield up
            return
        up.add_metric([], 1.0)
        yield up
        by_status = GaugeMetricFamily(
            "bridge_inbox_events",
            "Events in the inbox by type and status.",
            labels=["type", "status"],
        )
        for (event_type, status), count in sorted(counts.items()):
            by_status.add_metric([event_type, status], float(count))
        pending = GaugeMetricFamily(
            "bridge_inbox_backlog", "Events waiting to be processed (pending or processing)."
        )
        pending.add_metric([], float(backlog.count))
        oldest = GaugeMetricFamily(
            "bridge_inbox_oldest_pending_age_seconds",
            "Age of the oldest unprocessed event since it was received (0 when none).",
        )
        oldest.add_metric(
            [], max(0.0, self.clock() - backlog.oldest_received_at) if backlog.count else 0.0
        )
        yield by_status
        yield pending
        yield oldest


class Backlog:
    __slots__ = ("count", "oldest_received_at")

    def __init__(self, count: int, oldest_received_at: float) -> None:
        self.count = count
        self.oldest_received_at = oldest_received_at


def inbox_backlog(store: Store) -> Backlog:
    """Unfinished events and the oldest one's `received_at` (unix seconds), in one query.

    A real read of the inbox table: raises SQLAlchemy's errors when the store is gone."""
    import sqlalchemy as sa

    from connector.store import inbox_events
    from connector.sync.inbox import UNFINISHED

    e = inbox_events.c
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(sa.func.count(), sa.func.min(e.received_at)).where(e.status.in_(UNFINISHED))
        ).one()
    return Backlog(int(row[0] or 0), float(row[1] or 0.0))


class _Reason:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value: str | None = None


_ignore_reason: contextvars.ContextVar[_Reason | None] = contextvars.ContextVar(
    "caspio_stripe_ignore_reason", default=None
)


def ignore_because(reason: str) -> None:
    """Called by a handler just before it returns `IGNORED`: the reason the dispatcher counts
    in `bridge_events_ignored_total{type, reason}` (short snake_case, e.g. `no_caspio_key`)."""
    holder = _ignore_reason.get()
    if holder is not None:
        holder.value = reason


@contextlib.contextmanager
def ignore_reason_of() -> Iterator[_Reason]:
    """The dispatcher's side of `ignore_because`: collects the reason given inside."""
    holder = _Reason()
    token = _ignore_reason.set(holder)
    try:
        yield holder
    finally:
        _ignore_reason.reset(token)
