"""Background jobs of the admin API: one thread each, their state kept in memory.

A job lives as long as the process (a restart forgets finished jobs; a running one stops
with the process, and reconcile can simply be started again: it repairs only what still
differs). One job of a kind runs at a time.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

MAX_KEPT = 100  # finished jobs remembered, newest first


@dataclass
class Job:
    id: str
    kind: str
    status: str  # running | succeeded | failed
    started_at: float
    finished_at: float | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


class JobAlreadyRunning(RuntimeError):
    def __init__(self, job: Job) -> None:
        super().__init__(f"a {job.kind} job is already running: {job.id}")
        self.job = job


class Jobs:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._jobs: dict[str, Job] = {}
        self._threads: dict[str, threading.Thread] = {}

    def start(self, kind: str, work: Callable[[], dict[str, Any]]) -> Job:
        """Run `work` in a thread; its dict is the job's result. Raises JobAlreadyRunning."""
        with self._lock:
            for job in self._jobs.values():
                if job.kind == kind and job.status == "running":
                    raise JobAlreadyRunning(job)
            job = Job(uuid.uuid4().hex, kind, "running", time.time())
            self._jobs[job.id] = job
            self._forget_old()
            thread = threading.Thread(
                target=self._run, args=(job, work), name=f"admin-{kind}-{job.id[:8]}", daemon=True
            )
            self._threads[job.id] = thread
        thread.start()
        return job

    def _run(self, job: Job, work: Callable[[], dict[str, Any]]) -> None:
        try:
            result = work()
        except Exception as error:  # the job's failure is its status, not a dead thread
            with self._lock:
                job.status, job.error = "failed", f"{type(error).__name__}: {error}"[:2000]
                job.finished_at = time.time()
            return
        with self._lock:
            job.result = result
            job.status = "failed" if result.get("failures") else "succeeded"
            job.finished_at = time.time()

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            return self._jobs.get(job_id)

    def wait(self, job_id: str, timeout: float | None = None) -> bool:
        """Block until the job's thread ends (tests, shutdown); False on timeout."""
        thread = self._threads.get(job_id)
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _forget_old(self) -> None:
        finished = sorted(
            (j for j in self._jobs.values() if j.status != "running"),
            key=lambda j: j.started_at,
        )
        for job in finished[: max(0, len(finished) - MAX_KEPT)]:
            self._jobs.pop(job.id, None)
            self._threads.pop(job.id, None)
