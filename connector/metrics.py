"""The bridge's Prometheus metrics, on `prometheus_client`, one registry per app.

Each `Services` owns one `BridgeMetrics` (`services.metrics`) with its own
`CollectorRegistry`, never the process-global one, so that tests and several apps in one
process do not collide. Counting is one call, e.g. `metrics.ignored(event_type, "reason")`
(the API is listed in docs/contracts.md). The Caspio client's and the Stripe gateway's call
meters feed counters as calls are made; the inbox is read when scraped.

Several processes (gunicorn's `WEB_CONCURRENCY`): a scrape lands on any one of them, so
each must answer for all. Under gunicorn the master puts every process in prometheus_client's
multiprocess mode (`share_counts_through`, called from connector.gunicorn_conf's
`on_starting`): counters and histograms are written to per-process files in one directory
and every scrape adds up all the files, those of exited processes too. The store-derived
gauges (inbox, `bridge_store_up`) are never written there: the answering process reads them
from the store, once per scrape. Without that directory (tests, `create_app` in-process, the
sandbox) counts stay in the app's own registry, as before.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from caspio_client.metering import CallMeter
    from connector.store import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

#: prometheus_client's switch: when set at its import, values live in files in this folder.
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Seconds per event, from sub-millisecond skips to a Caspio outage's retried calls.
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


def multiprocess_directory() -> str | None:
    """The folder this process shares its counts through, or None when they stay in the
    process: prometheus_client writes values to files only if `PROMETHEUS_MULTIPROC_DIR` was
    set when it chose its value class (at import, or `share_counts_through`)."""
    from prometheus_client import values

    directory = os.environ.get(MULTIPROCESS_ENV, "")
    if not directory or not getattr(values.ValueClass, "_multiprocess", False):
        return None
    return directory


def share_counts_through(directory: str) -> None:
    """Put this process, and every process it forks from now on, in prometheus_client's
    multiprocess mode with its files in `directory` (an existing folder).

    prometheus_client chooses between in-memory and file-backed values once, when it is
    imported; the gunicorn master has usually imported it already (`serve` builds the
    services once to check them), so the choice is made again here, with the library's own
    `get_value_class`. Counters created before this call stay in memory (none of the
    master's reach a worker: apps are built after the fork)."""
    from prometheus_client import values

    os.environ[MULTIPROCESS_ENV] = directory
    if not getattr(values.ValueClass, "_multiprocess", False):
        # prometheus_client leaves these unannotated.
        values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]


class _Instruments:
    """The Counters and the Histogram behind BridgeMetrics' counting API.

    `registry` None: registered nowhere, for multiprocess mode, where a MultiProcessCollector
    reads the values back from the files of every process."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        r = self.registry = registry
        self.received = Counter(
            "bridge_events_received",
            "Stripe events stored by the webhook endpoint.",
            ["type"],
            registry=r,
        )
        self.duplicates = Counter(
            "bridge_events_duplicate",
            "Stripe deliveries of an event already stored.",
            ["type"],
            registry=r,
        )
        self.rejected = Counter(
            "bridge_webhooks_rejected",
            "Webhook requests refused (nothing stored).",
            ["reason"],
            registry=r,
        )
        self.processed = Counter(
            "bridge_events_processed",
            "Events the worker applied to Caspio.",
            ["type"],
            registry=r,
        )
        self.ignored = Counter(
            "bridge_events_ignored",
            "Events acknowledged without a Caspio write.",
            ["type", "reason"],
            registry=r,
        )
        self.dead = Counter(
            "bridge_events_dead",
            "Events parked as dead after their last attempt.",
            ["type"],
            registry=r,
        )
        self.retried = Counter(
            "bridge_event_retries",
            "Failed event attempts scheduled for another try.",
            ["type"],
            registry=r,
        )
        self.latency = Histogram(
            "bridge_event_processing_seconds",
            "Time to apply one event, failed ones too.",
            ["type"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.api_retries = Counter(
            "bridge_api_retries",
            "Caspio or Stripe calls retried by the bridge's clients.",
            ["api", "reason"],
            registry=r,
        )
        self.rate_limit_waits = Counter(
            "bridge_rate_limit_waits",
            "Waits after a rate-limit (429) answer.",
            ["api"],
            registry=r,
        )
        self.rate_limit_seconds = Counter(
            "bridge_rate_limit_wait_seconds",
            "Seconds spent waiting after a 429.",
            ["api"],
            registry=r,
        )
        self._lock = threading.Lock()
        self._calls: dict[str, CallCounters] = {}
        # Meters already feeding these counters: watched twice, a call would count twice.
        self._meters: weakref.WeakSet[CallMeter] = weakref.WeakSet()

    def watch_calls(self, api: str, meter: CallMeter) -> None:
        with self._lock:
            if meter in self._meters:
                return
            self._meters.add(meter)
            counters = self._calls.get(api)
            if counters is None:
                counters = self._calls[api] = CallCounters(api, self.registry)
        meter.subscribe(counters.count)


class CallCounters:
    """`bridge_<api>_calls_total{operation, target, status}` and
    `bridge_<api>_rate_limited_calls_total`, moved by a call meter as each call is made."""

    def __init__(self, api: str, registry: CollectorRegistry | None) -> None:
        self.calls = Counter(
            f"bridge_{api}_calls",
            f"{api.capitalize()} API calls by operation (HTTP method), target and status "
            "(0: no answer).",
            ["operation", "target", "status"],
            registry=registry,
        )
        self.rate_limited = Counter(
            f"bridge_{api}_rate_limited_calls",
            f"{api.capitalize()} calls answered 429.",
            registry=registry,
        )

    def count(self, method: str, target: str, status: int) -> None:
        self.calls.labels(method, target, str(status)).inc()
        if status == 429:
            self.rate_limited.inc()


# Multiprocess mode: one set of instruments per process. Two Counter objects over the same
# file entry would each write their own running total, and the last writer would win.
_process_instruments: _Instruments | None = None
_process_lock = threading.Lock()


def _shared_instruments() -> _Instruments:
    global _process_instruments
    with _process_lock:
        if _process_instruments is None:
            _process_instruments = _Instruments(None)
        return _process_instruments


class BridgeMetrics:
    """Counters the bridge moves as it works, plus collectors read at scrape time.

    Event counters are labelled by Stripe event `type`; `reason`s are short snake_case
    words (`bad_signature`, `unhandled_type`), never a message that could carry data.
    In multiprocess mode (`multiprocess_directory()` not None) `registry` holds a
    MultiProcessCollector that reports the sum over every process, and the counting API moves
    this process's shared instruments, so every BridgeMetrics of the process counts together.
    """

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        directory = multiprocess_directory()
        self.multiprocess = directory is not None
        if directory is None:
            self._i = _Instruments(self.registry)
        else:
            # A folder the operator named may not exist yet in this process's file system.
            os.makedirs(directory, exist_ok=True)
            # prometheus_client leaves its constructor unannotated.
            MultiProcessCollector(self.registry, path=directory)  # type: ignore[no-untyped-call]
            self._i = _shared_instruments()
        self._lock = threading.Lock()
        self._collectors: list[Collector] = []

    # -- the counting API (docs/contracts.md) -------------------------------------------

    def received(self, event_type: str) -> None:
        self._i.received.labels(event_type).inc()

    def duplicate(self, event_type: str) -> None:
        self._i.duplicates.labels(event_type).inc()

    def rejected(self, reason: str) -> None:
        self._i.rejected.labels(reason).inc()

    def processed(self, event_type: str, seconds: float) -> None:
        self._i.processed.labels(event_type).inc()
        self._i.latency.labels(event_type).observe(seconds)

    def ignored(self, event_type: str, reason: str) -> None:
        self._i.ignored.labels(event_type, reason).inc()

    def retried(self, event_type: str, seconds: float) -> None:
        self._i.retried.labels(event_type).inc()
        self._i.latency.labels(event_type).observe(seconds)

    def dead(self, event_type: str, seconds: float | None = None) -> None:
        self._i.dead.labels(event_type).inc()
        if seconds is not None:
            self._i.latency.labels(event_type).observe(seconds)

    def api_retry(self, api: str, reason: str) -> None:
        self._i.api_retries.labels(api, reason).inc()

    def rate_limit_wait(self, api: str, seconds: float) -> None:
        self._i.rate_limit_waits.labels(api).inc()
        self._i.rate_limit_seconds.labels(api).inc(max(0.0, seconds))

    # -- scrape-time sources ------------------------------------------------------------

    def add_collector(self, collector: Collector) -> None:
        """Register a collector on this registry (once per collector object). It runs in the
        process that answers the scrape, so it must report what is true for the whole
        server (e.g. read from the store), not this process's share."""
        with self._lock:
            if collector in self._collectors:
                return
            self._collectors.append(collector)
        self.registry.register(collector)

    def watch_calls(self, api: str, meter: CallMeter) -> None:
        """Count the calls `meter` records from now on (e.g. the Caspio client's) as
        `bridge_<api>_calls_total{operation, target, status}` (target: table or Stripe path
        template; status 0: no answer) and `bridge_<api>_rate_limited_calls_total`. Real
        counters, so processes add up; `meter.reset()` does not move them back."""
        self._i.watch_calls(api, meter)

    def watch_inbox(
        self, store_source: Callable[[], Store], clock: Callable[[], float] = time.time
    ) -> None:
        """Export the inbox (`store_source()` opens the store, possibly lazily)."""
        self.add_collector(InboxCollector(store_source, clock))

    def exposition(self) -> bytes:
        """The Prometheus text format of everything registered."""
        return generate_latest(self.registry)


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
