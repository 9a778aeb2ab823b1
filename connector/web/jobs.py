"""Background jobs of the admin API: one thread each, their state in the bridge's store.

Every web process sees every job (`bridge_admin_jobs`): a job started through one process
is polled through any other, and one job of a kind runs at a time across all of them (the
unique index on `running_kind`, taken in the transaction that records the job).

The process running a job renews its heartbeat every `heartbeat_seconds`. A running job
whose heartbeat is older than `stale_after_seconds` counts as failed ("the process running
it stopped": killed, or cut off from the store) and no longer blocks a new job of its kind;
reconcile can simply be started again, it repairs only what still differs. A finished job's
record is final: if its process was only cut off and finishes later, that outcome is logged,
not recorded. The store keeps the newest `MAX_KEPT` finished jobs.

Heartbeats are judged by each process's own clock (as the inbox's leases are): hosts sharing
one store must keep their clocks within seconds of each other (NTP).
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from connector.store import Store, admin_jobs

log = logging.getLogger(__name__)

MAX_KEPT = 100  # finished jobs kept in the store, newest first
HEARTBEAT_SECONDS = 5.0
# Twelve missed heartbeats: room for a slow store (SQLite waits up to 30 s for its write
# lock) before a live job is taken for dead.
STALE_AFTER_SECONDS = 60.0
ERROR_LIMIT = 2000  # characters of an exception kept as the job's error

RUNNING, SUCCEEDED, FAILED = "running", "succeeded", "failed"


@dataclass
class Job:
    id: str
    kind: str
    status: str  # running | succeeded | failed
    started_at: float  # Unix seconds
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class JobAlreadyRunning(RuntimeError):
    def __init__(self, job: Job) -> None:
        super().__init__(f"a {job.kind} job is already running: {job.id}")
        self.job = job


def _job(row: sa.Row[Any]) -> Job:
    result = None if row.result_json is None else json.loads(row.result_json)
    return Job(row.job_id, row.kind, row.status, row.started_at, row.finished_at, result, row.error)


class Jobs:
    """The admin jobs on one store, run by this process in threads.

    `clock` returns Unix seconds (tests inject one); `owner` names this process in the
    store (default host:pid).
    """

    def __init__(
        self,
        store: Store,
        *,
        clock: Callable[[], float] = time.time,
        heartbeat_seconds: float = HEARTBEAT_SECONDS,
        stale_after_seconds: float = STALE_AFTER_SECONDS,
        owner: str | None = None,
    ) -> None:
        self.store = store
        self.clock = clock
        self.heartbeat_seconds = heartbeat_seconds
        self.stale_after_seconds = stale_after_seconds
        self.owner = (owner or f"{socket.gethostname()}:{os.getpid()}")[:255]
        self._lock = threading.Lock()
        self._threads: dict[str, threading.Thread] = {}  # this process's unfinished jobs

    def start(self, kind: str, work: Callable[[], dict[str, Any]]) -> Job:
        """Record a running job of `kind` and run `work` in a thread; its dict (JSON values)
        is the job's result, a non-empty `failures` list in it marks the job failed.

        Raises JobAlreadyRunning while another process or thread runs a job of `kind`.
        """
        job = Job(uuid.uuid4().hex, kind, RUNNING, self.clock())
        with self.store.transaction() as conn:
            running = self._record(conn, job)
            if running is None:
                self._forget_old(conn)
        if running is not None:
            raise JobAlreadyRunning(running)
        thread = threading.Thread(
            target=self._run, args=(job, work), name=f"admin-{kind}-{job.id[:8]}", daemon=True
        )
        with self._lock:
            self._threads[job.id] = thread
        thread.start()
        return job

    def _record(self, conn: Connection, job: Job) -> Job | None:
        """Insert `job` unless a job of its kind runs; returns that running job, else None."""
        t = admin_jobs.c
        self._expire_stale(conn, t.running_kind == job.kind)
        for _ in range(3):  # the running job found by the insert may finish before we read it
            running = conn.execute(sa.select(admin_jobs).where(t.running_kind == job.kind)).first()
            if running is not None:
                return _job(running)
            try:
                with conn.begin_nested():
                    conn.execute(
                        admin_jobs.insert().values(
                            job_id=job.id,
                            kind=job.kind,
                            status=RUNNING,
                            running_kind=job.kind,
                            owner=self.owner,
                            started_at=job.started_at,
                            heartbeat_at=job.started_at,
                        )
                    )
            except sa.exc.IntegrityError:
                continue  # PostgreSQL: another process recorded one since our read
            return None
        raise RuntimeError(f"could not record a {job.kind} job: the running one keeps changing")

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        done = threading.Event()
        heartbeat = threading.Thread(
            target=self._beat_until,
            args=(job.id, done),
            name=f"admin-{job.kind}-{job.id[:8]}-heartbeat",
            daemon=True,
        )
        heartbeat.start()
        try:
            try:
                outcome = self._outcome(work)
            finally:
                done.set()
                heartbeat.join()  # no beat races the outcome's write
            self._finish(job, *outcome)
        finally:
            with self._lock:
                self._threads.pop(job.id, None)

    @staticmethod
    def _outcome(work: Callable[[], dict[str, Any]]) -> tuple[str, str | None, str | None]:
        """(status, result as JSON, error) of running `work`."""
        try:
            result = work()
            return (FAILED if result.get("failures") else SUCCEEDED, json.dumps(result), None)
        except Exception as error:  # the job's failure is its status, not a dead thread
            return (FAILED, None, f"{type(error).__name__}: {error}")

    def _beat_until(self, job_id: str, done: threading.Event) -> None:
        while not done.wait(self.heartbeat_seconds):
            try:
                if not self.renew(job_id):
                    log.warning(
                        "admin job %s was taken for stopped by another process: it goes on,"
                        " but its outcome will not be recorded",
                        job_id,
                    )
                    return
            except Exception as error:  # a store hiccup: the next beat may get through
                log.warning("admin job %s: heartbeat failed: %s", job_id, error)

    def renew(self, job_id: str) -> bool:
        """Renew a running job's heartbeat; False once it no longer runs in the store
        (finished, or taken for stopped by another process)."""
        t = admin_jobs.c
        with self.store.transaction() as conn:
            renewed = conn.execute(
                admin_jobs.update()
                .where(t.job_id == job_id, t.status == RUNNING)
                .values(heartbeat_at=self.clock())
            ).rowcount
        return bool(renewed)

    def _finish(self, job: Job, status: str, result_json: str | None, error: str | None) -> None:
        t = admin_jobs.c
        try:
            with self.store.transaction() as conn:
                recorded = conn.execute(
                    admin_jobs.update()
                    .where(t.job_id == job.id, t.status == RUNNING)
                    .values(
                        status=status,
                        running_kind=None,
                        finished_at=self.clock(),
                        result_json=result_json,
                        error=None if error is None else error[:ERROR_LIMIT],
                    )
                ).rowcount
        except Exception:
            # The job stays running in the store until its heartbeat is stale, then failed.
            log.exception(
                "admin job %s (%s) ended %s but could not be recorded", job.id, job.kind, status
            )
            return
        if not recorded:
            log.warning(
                "admin job %s (%s) ended %s after it was taken for stopped; kept as failed",
                job.id,
                job.kind,
                status,
            )

    def get(self, job_id: str) -> Job | None:
        """The job as the store has it (a running one with a stale heartbeat: failed)."""
        t = admin_jobs.c
        query = sa.select(admin_jobs).where(t.job_id == job_id)
        with self.store.engine.connect() as conn:
            row = conn.execute(query).first()
        if row is None or row.status != RUNNING or not self._is_stale(row.heartbeat_at):
            return None if row is None else _job(row)
        with self.store.transaction() as conn:
            self._expire_stale(conn, t.job_id == job_id)
            row = conn.execute(query).first()
        return None if row is None else _job(row)

    def _is_stale(self, heartbeat_at: float) -> bool:
        return heartbeat_at < self.clock() - self.stale_after_seconds

    def _expire_stale(self, conn: Connection, which: sa.ColumnElement[bool]) -> None:
        """Mark `which` running jobs whose heartbeat is stale failed, finished at their last
        heartbeat (the last moment they were known to run)."""
        t = admin_jobs.c
        conn.execute(
            admin_jobs.update()
            .where(
                which,
                t.status == RUNNING,
                t.heartbeat_at < self.clock() - self.stale_after_seconds,
            )
            .values(
                status=FAILED,
                running_kind=None,
                finished_at=t.heartbeat_at,
                error=(
                    "the process running it stopped (no heartbeat for more than"
                    f" {self.stale_after_seconds:g} s)"
                ),
            )
        )

    def _forget_old(self, conn: Connection) -> None:
        t = admin_jobs.c
        newest = (
            sa.select(t.job_id)
            .where(t.status != RUNNING)
            .order_by(t.started_at.desc(), t.job_id.desc())
            .limit(MAX_KEPT)
        )
        conn.execute(admin_jobs.delete().where(t.status != RUNNING, t.job_id.not_in(newest)))

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Block until this process's thread of the job ends (tests, shutdown); False on
        timeout. True at once for a job this process does not run."""
        with self._lock:
            thread = self._threads.get(job_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def wait_all(self, timeout: float | None = None) -> bool:
        """`wait` for every job this process runs (each gets `timeout`)."""
        with self._lock:
            job_ids = list(self._threads)
        return all([self.wait(job_id, timeout) for job_id in job_ids])
