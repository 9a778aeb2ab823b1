import json
import os
import subprocess
import sys
import threading
from collections import defaultdict

import pytest

from connector.sync.inbox import DEAD, DONE, IGNORED, PENDING, PROCESSING, EventEnvelope, Inbox
from connector.sync.worker import BackgroundWorker, Worker, exponential_backoff
from tests.fixtures import stripe_events as se


class Clock:
    def __init__(self, now=10_000.0):
        self.now = now

    def __call__(self):
        return self.now


class Recorder:
    """A dispatcher that records what it saw and can fail on demand."""

    def __init__(self, fail_times=0, error=RuntimeError("caspio down")):
        self.seen = []
        self.fail_times = fail_times
        self.error = error
        self.lock = threading.Lock()

    def dispatch(self, event):
        with self.lock:
            self.seen.append(event["id"])
            if self.fail_times:
                self.fail_times -= 1
                raise self.error
        return IGNORED if event["type"] == "invoice.upcoming" else DONE


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the worker catches it, like a killed process."""


def add(store, event, now=1.0):
    Inbox(store).record(EventEnvelope.parse(event), json.dumps(event), now=now, handled=True)


def test_run_once_processes_and_settles(store):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    add(store, se.event("invoice.upcoming", {"object": "invoice"}, 100, "evt_2"))
    recorder = Recorder()
    worker = Worker(store, recorder, clock=Clock())
    assert worker.run_once() == 2
    assert sorted(recorder.seen) == ["evt_1", "evt_2"]
    assert Inbox(store).get("evt_1")["status"] == DONE
    assert Inbox(store).get("evt_2")["status"] == IGNORED
    assert worker.run_once() == 0


def test_failures_back_off_then_go_dead_with_the_traceback(store):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    clock = Clock()
    worker = Worker(
        store, Recorder(fail_times=99), clock=clock, max_attempts=3, backoff=lambda n: 10.0 * n
    )
    assert worker.run_once() == 1
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["attempts"], row["next_attempt_at"]) == (PENDING, 1, clock.now + 10)
    assert "caspio down" in row["last_error"]
    assert worker.run_once() == 0  # not due yet
    clock.now += 10
    assert worker.run_once() == 1
    clock.now += 20
    assert worker.run_once() == 1
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["attempts"]) == (DEAD, 3)
    assert "RuntimeError: caspio down" in row["last_error"]
    assert "Traceback" in row["last_traceback"] and "dispatch" in row["last_traceback"]
    assert worker.dead == 1


def test_a_failure_that_recovers_is_processed_once_it_is_due(store):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    clock = Clock()
    recorder = Recorder(fail_times=2)
    worker = Worker(store, recorder, clock=clock, max_attempts=5)
    for _ in range(3):
        worker.run_once()
        clock.now += 3600
    assert recorder.seen == ["evt_1"] * 3
    assert Inbox(store).get("evt_1")["status"] == DONE


def test_retry_after_from_the_error_stretches_the_backoff(store):
    class Limited(Exception):
        retry_after = 120.0

    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    clock = Clock()
    Worker(store, Recorder(fail_times=1, error=Limited("429")), clock=clock).run_once()
    assert Inbox(store).get("evt_1")["next_attempt_at"] == clock.now + 120


def test_backoff_grows_and_is_capped():
    assert [exponential_backoff(n) for n in (1, 2, 3)] == [5.0, 10.0, 20.0]
    assert exponential_backoff(30) == 3600.0


def test_a_worker_that_dies_mid_event_is_recovered_after_its_lease(store):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    add(store, se.event("invoice.voided", se.invoice("in_1"), 200, "evt_2"))

    class Crashing(Recorder):
        def dispatch(self, event):
            raise SimulatedCrash()

    clock = Clock()
    with pytest.raises(SimulatedCrash):
        Worker(store, Crashing(), clock=clock, lease_seconds=60, owner="doomed").run_once()
    assert Inbox(store).get("evt_1")["status"] == PROCESSING
    rescuer = Worker(store, Recorder(), clock=clock, lease_seconds=60, owner="rescuer")
    assert rescuer.run_once() == 0  # lease still held: nothing is claimed twice
    clock.now += 61
    rescuer.run_until_idle()
    assert rescuer.dispatcher.seen == ["evt_1", "evt_2"]  # order kept across the crash
    assert Inbox(store).get("evt_1")["attempts"] == 2


CHILD = r"""
import sys, threading
from connector.store import Store
from connector.sync.worker import Worker

class Hang:
    def dispatch(self, event):
        print("started", event["id"], flush=True)
        threading.Event().wait()  # never returns: the parent kills us here

Worker(Store.from_url(sys.argv[1]), Hang(), lease_seconds=30, owner="child").run_once()
"""


def test_a_killed_worker_process_is_recovered(tmp_path):
    from connector.store import Store

    url = f"sqlite:///{tmp_path}/bridge.db"
    store = Store.from_url(url)
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, url], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )
    try:
        assert child.stdout.readline().split() == ["started", "evt_1"]
        child.kill()
    finally:
        child.wait(timeout=30)
        child.stdout.close()
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["lease_owner"]) == (PROCESSING, "child")
    rescuer = Worker(store, Recorder(), clock=Clock(row["lease_expires_at"] + 1))
    rescuer.run_until_idle()
    assert Inbox(store).get("evt_1")["status"] == DONE
    store.dispose()


class OverlapDetector:
    """Fails the test if one event, or two events of one object, are ever in flight together."""

    def __init__(self, expected):
        self.expected = expected
        self.all_done = threading.Event()
        self.lock = threading.Lock()
        self.in_flight_objects = set()
        self.processed = defaultdict(list)
        self.violations = []

    def dispatch(self, event):
        obj = event["data"]["object"]["id"]
        with self.lock:
            if obj in self.in_flight_objects:
                self.violations.append(event["id"])
            self.in_flight_objects.add(obj)
        # a little real work between the checks, so overlaps would show
        sum(range(2000))
        with self.lock:
            self.in_flight_objects.discard(obj)
            self.processed[obj].append((event["created"], event["id"]))
            if sum(len(v) for v in self.processed.values()) >= self.expected:
                self.all_done.set()
        return DONE


def _race(store, workers=4, objects=12, per_object=6):
    for o in range(objects):
        for n in range(per_object):
            created = 1000 + (n * 7 + o) % per_object * 10 + n  # distinct, arrival shuffled below
            add(
                store,
                se.event("invoice.paid", se.invoice(f"in_{o}"), created, f"evt_{o}_{n}"),
                now=float(n),
            )
    detector = OverlapDetector(objects * per_object)
    pool = [
        BackgroundWorker(
            Worker(store, detector, batch_size=3, owner=f"w{i}", retention_seconds=float("inf")),
            idle_wait=0.01,
        )
        for i in range(workers)
    ]
    for handle in pool:
        handle.start()
    try:
        assert detector.all_done.wait(60), "workers did not finish"
    finally:
        for handle in pool:
            handle.stop()
    assert detector.violations == []
    for obj, seen in detector.processed.items():
        assert len(seen) == per_object, obj
        assert seen == sorted(seen), f"{obj} processed out of created order"
    assert Inbox(store).counts() == {("invoice.paid", DONE): objects * per_object}


def test_concurrent_workers_never_double_process(store):
    _race(store)


@pytest.mark.postgres
def test_concurrent_worker_processes_on_postgres_never_double_process(postgres_store_url, tmp_path):
    """Separate OS processes (the `caspio-stripe worker` deployment) sharing PostgreSQL."""
    from connector.store import Store

    store = Store.from_url(postgres_store_url)
    for o in range(8):
        for n in range(5):
            add(
                store,
                se.event("invoice.paid", se.invoice(f"in_{o}"), 1000 + n, f"evt_{o}_{n}"),
                now=float(-n),
            )
    log = tmp_path / "log"
    code = r"""
import os, sys
from connector.store import Store
from connector.sync.worker import Worker
class Log:
    def dispatch(self, event):
        with open(sys.argv[2], "a") as f:
            obj = event["data"]["object"]["id"]
            f.write(f"start {os.getpid()} {event['id']} {obj} {event['created']}\n")
            f.flush()
            sum(range(5000))
            f.write(f"end {os.getpid()} {event['id']} {obj} {event['created']}\n")
        return "done"
Worker(Store.from_url(sys.argv[1]), Log(), batch_size=2).run_until_idle()
"""
    children = [
        subprocess.Popen([sys.executable, "-c", code, postgres_store_url, str(log)])
        for _ in range(4)
    ]
    for child in children:
        assert child.wait(timeout=120) == 0
    lines = [line.split() for line in log.read_text().splitlines()]
    starts = [line for line in lines if line[0] == "start"]
    assert sorted(line[2] for line in starts) == sorted(
        f"evt_{o}_{n}" for o in range(8) for n in range(5)
    )
    # per object: strictly start, end, start, end… in created order, whichever process ran it
    by_object = defaultdict(list)
    for kind, _pid, _evt, obj, created in lines:
        by_object[obj].append((kind, int(created)))
    for obj, seq in by_object.items():
        assert [k for k, _ in seq] == ["start", "end"] * 5, obj
        assert [c for k, c in seq if k == "start"] == [1000, 1001, 1002, 1003, 1004], obj
    store.dispose()


def test_settled_events_are_pruned_after_the_retention_but_dead_ones_stay(store):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_done"), now=1.0)
    add(store, se.event("invoice.paid", se.invoice("in_2"), 100, "evt_dead"), now=1.0)
    inbox = Inbox(store)
    inbox.claim("x", now=2.0, lease_seconds=1, limit=5)
    inbox.complete("evt_done", "x", now=3.0)
    inbox.kill("evt_dead", "x", now=3.0, error="e", traceback_text="t")
    clock = Clock(500.0)
    worker = Worker(store, Recorder(), clock=clock, retention_seconds=1000)
    assert worker.prune_if_due() == 0  # nothing old enough yet
    clock.now = 2000.0
    assert worker.prune_if_due() == 0  # pruning runs at most once an hour
    clock.now = 500.0 + 3600
    assert worker.prune_if_due() == 1
    assert inbox.get("evt_done") is None
    assert inbox.get("evt_dead")["status"] == DEAD
