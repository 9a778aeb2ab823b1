"""The worker: drain the inbox with leases, retry with backoff, dead-letter what keeps failing.

A worker that dies mid-event leaves its event `processing` with a lease; once the lease
expires any worker claims it again (attempts keep counting, so an event that kills every
worker ends up dead too). Settling is fenced on the lease owner, so a worker that lost its
lease cannot overwrite the outcome of the worker that took over.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from typing import Any, Protocol

from connector.errors import InvalidPayload, classify
from connector.logs import event_log_fields, log_context
from connector.metrics import BridgeMetrics
from connector.readiness import Heartbeat
from connector.store import Store
from connector.sync.inbox import DONE, IGNORED, ClaimedEvent, Inbox

log = logging.getLogger(__name__)

Clock = Callable[[], float]
Backoff = Callable[[int], float]


class Dispatcher(Protocol):
    def dispatch(self, event: dict[str, Any]) -> str:
        """Apply one event; returns the final inbox status (done or ignored)."""


# Settled events are kept longer than Stripe retries a delivery (3 days) and keeps events
# (30 days), so a late redelivery is still recognised as a duplicate.
RETENTION_SECONDS = 35 * 86400
# Short, because leases are renewed while an event runs (LeaseKeeper): only a worker that
# died holds one to the end, and its customers wait at most this long for another worker
# (or the same process, restarted).
DEFAULT_LEASE_SECONDS = 30.0
PRUNE_EVERY_SECONDS = 3600.0


def exponential_backoff(attempt: int, *, base: float = 5.0, cap: float = 3600.0) -> float:
    """Seconds before attempt `attempt + 1`: 5 s, 10 s, 20 s … capped at an hour."""
    return float(min(cap, base * 2 ** max(0, attempt - 1)))


def default_owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class Worker:
    def __init__(
        self,
        store: Store,
        dispatcher: Dispatcher,
        *,
        clock: Clock = time.time,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        heartbeat_seconds: float | None = None,
        max_attempts: int = 10,
        backoff: Backoff = exponential_backoff,
        batch_size: int = 20,
        owner: str | None = None,
        retention_seconds: float = RETENTION_SECONDS,
        metrics: BridgeMetrics | None = None,
    ) -> None:
        self.inbox = Inbox(store)
        self.dispatcher = dispatcher
        self.clock = clock
        self.lease_seconds = lease_seconds
        #: How often the leases of a batch being worked on are renewed (a third of the lease:
        #: two renewals may fail before another worker could take an event over).
        self.heartbeat_seconds = (
            lease_seconds / 3 if heartbeat_seconds is None else heartbeat_seconds
        )
        self.lost = 0  # events skipped because another worker had taken them over
        self.max_attempts = max_attempts
        self.backoff = backoff
        self.batch_size = batch_size
        self.owner = owner or default_owner()
        self.retention_seconds = retention_seconds
        self._next_prune = 0.0
        self.processed = 0
        self.failed = 0
        self.dead = 0
        self.metrics = metrics if metrics is not None else BridgeMetrics()
        #: Beaten every loop and every event; /readyz reads it (connector.readiness).
        self.heartbeat = Heartbeat()

    def run_once(self) -> int:
        """Claim one batch and process it; returns how many events were claimed."""
        claimed_at = self.clock()
        batch = self.inbox.claim(
            self.owner, now=claimed_at, lease_seconds=self.lease_seconds, limit=self.batch_size
        )
        if not batch:
            return 0
        with LeaseKeeper(self, [event.event_id for event in batch], claimed_at) as keeper:
            for event in batch:
                if self._still_mine(event, keeper):
                    self._process(event)
                keeper.done(event.event_id)
        return len(batch)

    def _still_mine(self, event: ClaimedEvent, keeper: LeaseKeeper) -> bool:
        """Right before running an event: is its lease (and its key's) still this worker's?
        A lease confirmed by the store less than `heartbeat_seconds` ago is (it has at least
        `lease_seconds - heartbeat_seconds` left, and other workers take only expired ones);
        an older one is renewed now. False when another worker has taken it over, which
        then runs it instead."""
        now = self.clock()
        if keeper.recently_confirmed(event.event_id, now):
            return True
        held = self.inbox.renew(
            self.owner, [event.event_id], now=now, lease_seconds=self.lease_seconds
        )
        keeper.confirmed([event.event_id], held, now)
        if event.event_id in held:
            return True
        log.warning(
            "worker %s: lease on event %s (%s) was taken over; not running it",
            self.owner,
            event.event_id,
            event.type,
        )
        self.lost += 1
        return False

    def run_until_idle(self, max_batches: int = 10_000) -> int:
        """Process until nothing is claimable now (tests and `replay`)."""
        total = 0
        for _ in range(max_batches):
            claimed = self.run_once()
            if not claimed:
                break
            total += claimed
        return total

    def run_forever(
        self,
        stop: threading.Event,
        *,
        idle_wait: float = 1.0,
        on_idle: Callable[[], None] | None = None,
    ) -> None:
        """Claim and process until `stop` is set; `on_idle` runs whenever nothing is ready."""
        while not stop.is_set():
            self.heartbeat.beat()
            try:
                claimed = self.run_once()
            except Exception:
                # The store itself failed (database restart…): wait, then try again.
                log.exception("worker %s: claim failed", self.owner)
                claimed = 0
            if not claimed:
                self.prune_if_due()
                if on_idle is not None:
                    on_idle()
                stop.wait(idle_wait)

    def prune_if_due(self) -> int:
        now = self.clock()
        if now < self._next_prune:
            return 0
        self._next_prune = now + PRUNE_EVERY_SECONDS
        try:
            return self.inbox.prune(received_before=now - self.retention_seconds)
        except Exception:
            log.exception("worker %s: pruning the inbox failed", self.owner)
            return 0

    def _process(self, event: ClaimedEvent) -> None:
        self.heartbeat.beat()
        started = time.perf_counter()
        with log_context(**event_log_fields(event.payload)):
            try:
                if event.unreadable is not None:
                    raise InvalidPayload(event.unreadable)
                outcome = self.dispatcher.dispatch(event.payload)
            except Exception as exc:
                self._fail(event, exc, started)
                return
            status = outcome or DONE
            self.inbox.complete(event.event_id, self.owner, now=self.clock(), status=status)
            if status != IGNORED:  # ignored events are counted, with a reason, by dispatch
                self.metrics.processed(event.type, time.perf_counter() - started)
            self.processed += 1

    def _fail(self, event: ClaimedEvent, exc: Exception, started: float) -> None:
        elapsed = time.perf_counter() - started
        verdict = classify(exc)
        error = verdict.reason[:2000]
        trace = traceback.format_exc()
        now = self.clock()
        if not verdict.retryable or event.attempts >= self.max_attempts:
            # A failure no retry can fix (a 400, a missing mapped field, an unreadable
            # payload) is dead at once: each attempt would cost billed Caspio calls.
            why = "not retryable" if not verdict.retryable else f"{event.attempts} attempts"
            error = f"{error} ({why})"[:2000]
            log.error("event %s (%s) is dead: %s", event.event_id, event.type, error)
            self.inbox.kill(event.event_id, self.owner, now=now, error=error, traceback_text=trace)
            self.metrics.dead(event.type, elapsed)
            self.dead += 1
            return
        delay = self.backoff(event.attempts)
        if verdict.retry_after is not None and verdict.retry_after > delay:
            delay = float(verdict.retry_after)
        log.warning(
            "event %s (%s) attempt %d failed, retry in %.0fs: %s",
            event.event_id,
            event.type,
            event.attempts,
            delay,
            error,
        )
        self.inbox.retry_later(
            event.event_id, self.owner, at=now + delay, error=error, traceback_text=trace
        )
        self.metrics.retried(event.type, elapsed)
        self.failed += 1


class LeaseKeeper:
    """While a batch is worked on, renews the leases of its unfinished events every
    `worker.heartbeat_seconds`, in a thread, so a batch that outlasts the lease (slow Caspio,
    a long outage inside the client's retries) is never taken over by another worker."""

    def __init__(self, worker: Worker, event_ids: list[str], claimed_at: float) -> None:
        self.worker = worker
        self._unfinished = list(event_ids)
        #: event id -> when the store last confirmed this worker's lease on it (the claim,
        #: then each renewal that still held it).
        self._confirmed_at = dict.fromkeys(event_ids, claimed_at)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> LeaseKeeper:
        if self.worker.heartbeat_seconds > 0:
            self._thread = threading.Thread(
                target=self._run, name=f"lease-keeper-{self.worker.owner}", daemon=True
            )
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def done(self, event_id: str) -> None:
        with self._lock:
            if event_id in self._unfinished:
                self._unfinished.remove(event_id)

    def confirmed(self, asked: list[str], held: set[str], now: float) -> None:
        """Record a renewal at `now` of the leases on `asked`, of which `held` are still this
        worker's (the others were taken over: never trusted again)."""
        with self._lock:
            for event_id in asked:
                if event_id in held:
                    self._confirmed_at[event_id] = now
                else:
                    self._confirmed_at.pop(event_id, None)

    def recently_confirmed(self, event_id: str, now: float) -> bool:
        """Was the lease on `event_id` confirmed less than `heartbeat_seconds` before `now`?
        (Never when the heartbeat is off: then every event is checked in the store.)"""
        with self._lock:
            confirmed_at = self._confirmed_at.get(event_id)
        if confirmed_at is None:
            return False
        return 0 <= now - confirmed_at < self.worker.heartbeat_seconds

    def _run(self) -> None:
        worker = self.worker
        while not self._stop.wait(worker.heartbeat_seconds):
            with self._lock:
                ids = list(self._unfinished)
            if not ids:
                return
            now = worker.clock()
            try:
                held = worker.inbox.renew(
                    worker.owner, ids, now=now, lease_seconds=worker.lease_seconds
                )
                self.confirmed(ids, held, now)
            except Exception:
                # The next renewal, or the check before each event, decides.
                log.exception("worker %s: renewing leases failed", worker.owner)


class BackgroundWorker:
    """A worker thread with a stop() that waits for the current batch to finish."""

    def __init__(self, worker: Worker, *, idle_wait: float = 1.0) -> None:
        self.worker = worker
        self._stop = threading.Event()
        #: Set each time the worker finds nothing ready (it has caught up with the inbox).
        self.caught_up = threading.Event()
        self._thread = threading.Thread(
            target=worker.run_forever,
            args=(self._stop,),
            kwargs={"idle_wait": idle_wait, "on_idle": self.caught_up.set},
            name=f"caspio-stripe-worker-{worker.owner}",
            daemon=True,
        )

    def start(self) -> BackgroundWorker:
        self._thread.start()
        return self

    def stop(self, timeout: float | None = 30.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()
