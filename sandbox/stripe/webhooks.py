"""Webhook delivery: a background worker posts signed events, retrying with back-off.

API calls only queue deliveries, so they answer at once. Faults can be injected to test a
receiver: every Nth delivery duplicated, each published batch shuffled, the first N
attempts of every delivery dropped before they are sent.
"""

from __future__ import annotations

import heapq
import itertools
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import requests

from .signing import signature_header


@dataclass
class DeliveryFaults:
    duplicate_every: int = 0  # send every Nth delivery twice (0: never)
    reorder: bool = False  # shuffle each published batch of deliveries
    drop_first_attempts: int = 0  # pretend the first N attempts of each delivery failed
    seed: int | None = None


@dataclass
class DeliveryRecord:
    event_id: str
    event_type: str
    endpoint_id: str
    url: str
    attempt: int
    status: int | None  # HTTP status, None when nothing was answered
    error: str | None
    signature: str | None
    body: bytes
    at: float  # wall-clock time of the attempt

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


@dataclass(order=True)
class _Job:
    due: float
    seq: int
    event_id: str = field(compare=False)
    event_type: str = field(compare=False)
    endpoint_id: str = field(compare=False)
    url: str = field(compare=False)
    secret: str | list[str] = field(compare=False)
    body: bytes = field(compare=False)
    attempt: int = field(compare=False, default=1)


class WebhookDispatcher:
    def __init__(
        self,
        retry_base: float = 60.0,
        retry_factor: float = 2.0,
        max_attempts: int = 3,
        timeout: float = 10.0,
        max_records: int = 20_000,
        workers: int = 1,
    ) -> None:
        self.retry_base = retry_base
        self.retry_factor = retry_factor
        self.max_attempts = max_attempts
        self.timeout = timeout
        self.faults = DeliveryFaults()
        self._rng = random.Random()
        self._cond = threading.Condition()
        self._heap: list[_Job] = []
        self._seq = itertools.count()
        self._in_flight = 0
        self._flying: dict[int, _Job] = {}  # by id(): what queued() must still report
        self._sent = 0
        self._attempts = 0  # every delivery attempt ever recorded (the log is bounded)
        # The newest attempts only, so a long soak run does not grow without bound.
        self._records: deque[DeliveryRecord] = deque(maxlen=max_records)
        self._stopping = False
        self._workers = max(1, workers)
        self._threads: list[threading.Thread] = []

    # -- control -----------------------------------------------------------------------

    def start(self) -> None:
        """Start the workers; with one, deliveries go out in order (unless reordered)."""
        if not self._threads:
            self._stopping = False
            for n in range(self._workers):
                thread = threading.Thread(
                    target=self._run, name=f"stripe-emulator-webhooks-{n}", daemon=True
                )
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)
        self._threads = []

    def set_faults(self, faults: DeliveryFaults) -> None:
        with self._cond:
            self.faults = faults
            self._rng = random.Random(faults.seed)
            self._sent = 0

    def clear(self) -> None:
        """Forget queued deliveries and the log (a delivery in flight still finishes)."""
        with self._cond:
            self._heap.clear()
            self._records.clear()
            self._sent = 0
            self._cond.notify_all()

    # -- producer side -----------------------------------------------------------------

    def submit(self, deliveries: list[dict[str, Any]]) -> None:
        """Queue one batch: dicts with event_id, event_type, endpoint_id, url, secret, body."""
        if not deliveries:
            return
        with self._cond:
            batch = list(deliveries)
            if self.faults.reorder:
                self._rng.shuffle(batch)
            now = time.monotonic()
            for d in batch:
                heapq.heappush(self._heap, _Job(due=now, seq=next(self._seq), **d))
            self._cond.notify_all()

    # -- observation -------------------------------------------------------------------

    @property
    def records(self) -> list[DeliveryRecord]:
        with self._cond:
            return list(self._records)

    def queued(self) -> list[dict[str, Any]]:
        """Deliveries not yet done (queued, waiting for a retry or in flight), as dicts
        with event_id, event_type, endpoint_id, url, secret, body and attempt; what a saved
        state needs so that a restarted emulator still delivers them."""
        with self._cond:
            jobs = {id(job): job for job in [*self._heap, *self._flying.values()]}
            return [
                {"event_id": job.event_id, "event_type": job.event_type,
                 "endpoint_id": job.endpoint_id, "url": job.url, "secret": job.secret,
                 "body": job.body, "attempt": job.attempt}
                for job in sorted(jobs.values(), key=lambda job: job.seq)
            ]

    def pending(self) -> int:
        with self._cond:
            return len(self._heap) + self._in_flight

    @property
    def attempts(self) -> int:
        """Delivery attempts recorded so far, answered or not (never reset by the log's bound)."""
        with self._cond:
            return self._attempts

    def wait_attempts(self, count: int, timeout: float = 10.0) -> bool:
        """Block until at least ``count`` attempts were recorded; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._attempts < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until nothing is queued or in flight; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._heap or self._in_flight:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    # -- worker ------------------------------------------------------------------------

    def _take_due(self) -> _Job | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                now = time.monotonic()
                if self._heap and self._heap[0].due <= now:
                    self._in_flight += 1
                    job = heapq.heappop(self._heap)
                    self._flying[id(job)] = job
                    return job
                wait = self._heap[0].due - now if self._heap else None
                self._cond.wait(wait)

    def _run(self) -> None:
        with requests.Session() as session:  # one connection pool per worker
            while True:
                job = self._take_due()
                if job is None:
                    return
                try:
                    self._attempt(job, session)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        self._flying.pop(id(job), None)
                        self._cond.notify_all()

    def _attempt(self, job: _Job, session: requests.Session) -> None:
        with self._cond:
            faults = self.faults
            dropped = job.attempt <= faults.drop_first_attempts
            copies = 1
            if not dropped:
                self._sent += 1
                if faults.duplicate_every and self._sent % faults.duplicate_every == 0:
                    copies = 2
        record: DeliveryRecord | None = None
        if dropped:
            record = self._record(job, None, "dropped by delivery fault", None)
        else:
            for _ in range(copies):
                record = self._post(job, session)
        assert record is not None
        if not record.ok and job.attempt < self.max_attempts:
            delay = self.retry_base * self.retry_factor ** (job.attempt - 1)
            with self._cond:
                job.attempt += 1
                job.due = time.monotonic() + delay
                job.seq = next(self._seq)
                heapq.heappush(self._heap, job)

    def _post(self, job: _Job, session: requests.Session) -> DeliveryRecord:
        header = signature_header(job.secret, int(time.time()), job.body)
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": header,
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        }
        try:
            response = session.post(
                job.url,
                data=job.body,
                headers=headers,
                timeout=self.timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            return self._record(job, None, f"{type(exc).__name__}: {exc}", header)
        response.close()
        return self._record(job, response.status_code, None, header)

    def _record(
        self, job: _Job, status: int | None, error: str | None, header: str | None
    ) -> DeliveryRecord:
        record = DeliveryRecord(
            event_id=job.event_id,
            event_type=job.event_type,
            endpoint_id=job.endpoint_id,
            url=job.url,
            attempt=job.attempt,
            status=status,
            error=error,
            signature=header,
            body=job.body,
            at=time.time(),
        )
        with self._cond:
            self._records.append(record)
            self._attempts += 1
            self._cond.notify_all()
        return record
