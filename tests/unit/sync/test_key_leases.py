"""Mutual exclusion per customer (lock key) without ordering across objects."""

import hashlib
import json
import subprocess
import sys
import threading
from collections import defaultdict

import pytest
import sqlalchemy as sa

from connector.store import Store, create_store_engine, inbox_events, key_leases
from connector.sync.inbox import DONE, PENDING, EventEnvelope, Inbox
from connector.sync.worker import BackgroundWorker, Worker
from tests.fixtures import stripe_events as se
from tests.fixtures.legacy_store import create_legacy_store


def record(inbox, event, *, now=1.0):
    return inbox.record(EventEnvelope.parse(event), json.dumps(event), now=now, handled=True)


def paid(invoice_id, customer, created, event_id):
    return se.event("invoice.paid", se.invoice(invoice_id, customer=customer), created, event_id)


def refunded(charge_id, customer, created, event_id):
    charge = se.charge(charge_id, intent_id=f"pi_{charge_id}") | {"customer": customer}
    return se.event("charge.refunded", charge, created, event_id)


def ids(claimed):
    return [event.event_id for event in claimed]


def leases(store):
    with store.engine.connect() as conn:
        rows = conn.execute(sa.select(key_leases.c.lock_key, key_leases.c.owner)).all()
    return dict(sorted((row.lock_key, row.owner) for row in rows))


def test_the_lock_key_is_the_customer_else_the_object(store):
    expanded = se.charge("ch_2", intent_id="pi_2") | {"customer": {"id": "cus_B", "object": "x"}}
    payout = {"id": "po_1", "object": "payout"}
    assert EventEnvelope.parse(paid("in_1", "cus_A", 100, "evt_1")).lock_key == "cus_A"
    assert EventEnvelope.parse(se.event("charge.refunded", expanded, 100)).lock_key == "cus_B"
    assert EventEnvelope.parse(se.event("payout.paid", payout, 100)).lock_key == "po_1"
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_1"))
    record(inbox, se.event("payout.paid", payout, 100, "evt_2"))
    assert inbox.get("evt_1")["lock_key"] == "cus_A"
    assert inbox.get("evt_2")["lock_key"] == "po_1"


def test_two_objects_of_one_customer_never_run_at_once(store):
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_paid"))
    record(inbox, refunded("ch_1", "cus_A", 200, "evt_refund"))
    assert ids(inbox.claim("w1", now=10.0, lease_seconds=60, limit=1)) == ["evt_paid"]
    assert leases(store) == {"cus_A": "w1"}
    # another object, but the same customer: w2 waits for w1
    assert inbox.claim("w2", now=10.0, lease_seconds=60, limit=10) == []
    assert inbox.complete("evt_paid", "w1", now=11.0)
    assert leases(store) == {}
    assert ids(inbox.claim("w2", now=11.0, lease_seconds=60, limit=10)) == ["evt_refund"]
    assert leases(store) == {"cus_A": "w2"}


def test_one_batch_keeps_the_key_until_its_last_event_of_the_customer_settles(store):
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_paid"))
    record(inbox, refunded("ch_1", "cus_A", 200, "evt_refund"))
    record(inbox, paid("in_2", "cus_A", 300, "evt_later"))
    claimed = inbox.claim("w1", now=10.0, lease_seconds=60, limit=2)
    assert ids(claimed) == ["evt_paid", "evt_refund"]  # one worker runs them one after another
    assert inbox.complete("evt_paid", "w1", now=11.0)
    # evt_refund is still w1's to run: the key stays with w1
    assert leases(store) == {"cus_A": "w1"}
    assert inbox.claim("w2", now=11.0, lease_seconds=60, limit=10) == []
    assert inbox.complete("evt_refund", "w1", now=12.0)
    assert ids(inbox.claim("w2", now=12.0, lease_seconds=60, limit=10)) == ["evt_later"]


def test_an_event_waiting_for_its_retry_does_not_block_its_customer(store):
    inbox = Inbox(store)
    session = {"id": "cs_1", "object": "checkout.session", "customer": "cus_A"}
    record(inbox, paid("in_1", "cus_A", 100, "evt_paid"))
    record(inbox, se.event("checkout.session.completed", session, 200, "evt_session"))
    assert ids(inbox.claim("w1", now=10.0, lease_seconds=60, limit=1)) == ["evt_paid"]
    # invoice.paid waits for the session (which names the Caspio row): it gives the key back
    assert inbox.retry_later("evt_paid", "w1", at=50.0, error="no row yet", traceback_text="")
    assert leases(store) == {}
    assert ids(inbox.claim("w2", now=11.0, lease_seconds=60, limit=10)) == ["evt_session"]
    # due again, but the session (same customer) still runs on w2
    assert inbox.claim("w1", now=50.0, lease_seconds=60, limit=10) == []
    assert inbox.complete("evt_session", "w2", now=51.0)
    assert ids(inbox.claim("w1", now=51.0, lease_seconds=60, limit=10)) == ["evt_paid"]


def test_a_dead_event_gives_the_key_back(store):
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_paid"))
    record(inbox, refunded("ch_1", "cus_A", 200, "evt_refund"))
    inbox.claim("w1", now=10.0, lease_seconds=60, limit=1)
    assert inbox.kill("evt_paid", "w1", now=11.0, error="boom", traceback_text="")
    assert ids(inbox.claim("w2", now=11.0, lease_seconds=60, limit=10)) == ["evt_refund"]


def test_an_expired_key_lease_of_a_dead_worker_is_taken_over(store):
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_paid"))
    record(inbox, refunded("ch_1", "cus_A", 200, "evt_refund"))
    assert ids(inbox.claim("dead", now=1000.0, lease_seconds=30, limit=1)) == ["evt_paid"]
    assert inbox.claim("w2", now=1029.0, lease_seconds=30, limit=10) == []
    taken = inbox.claim("w2", now=1030.0, lease_seconds=30, limit=10)
    assert ids(taken) == ["evt_paid", "evt_refund"]
    assert taken[0].attempts == 2
    assert leases(store) == {"cus_A": "w2"}
    # the dead worker's late settle is fenced and leaves w2's key alone
    assert inbox.complete("evt_paid", "dead", now=1031.0) is False
    assert leases(store) == {"cus_A": "w2"}


def test_events_of_different_customers_run_at_once(store):
    inbox = Inbox(store)
    record(inbox, paid("in_1", "cus_A", 100, "evt_a1"))
    record(inbox, paid("in_2", "cus_B", 110, "evt_b"))
    record(inbox, se.event("payout.paid", {"id": "po_1", "object": "payout"}, 120, "evt_po"))
    record(inbox, refunded("ch_1", "cus_A", 130, "evt_a2"))
    assert ids(inbox.claim("w1", now=10.0, lease_seconds=60, limit=10)) == [
        "evt_a1",
        "evt_b",
        "evt_po",
        "evt_a2",
    ]
    assert leases(store) == {"cus_A": "w1", "cus_B": "w1", "po_1": "w1"}
    record(inbox, paid("in_3", "cus_C", 140, "evt_c"), now=11.0)
    record(inbox, paid("in_4", "cus_A", 150, "evt_a3"), now=11.0)
    # w2 gets the free customer while w1 still holds A
    assert ids(inbox.claim("w2", now=12.0, lease_seconds=60, limit=10)) == ["evt_c"]


def test_the_upgrade_of_a_version_1_store_fills_the_lock_key(store_url):
    # A store as the first release left it (pre-alembic step 1 only), holding pending events.
    create_legacy_store(store_url, version=1)
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        v1_columns = [c.name for c in inbox_events.columns if c.name != "lock_key"]
        v1_inbox = sa.table(inbox_events.name, *[sa.column(name) for name in v1_columns])
        for n, obj in enumerate(["in_1", "ch_1"]):
            conn.execute(
                v1_inbox.insert().values(
                    event_id=f"evt_{n}",
                    type="invoice.paid",
                    object_id=obj,
                    object_type="invoice",
                    created=100 + n,
                    received_at=1.0,
                    payload=json.dumps(paid(obj, "cus_A", 100 + n, f"evt_{n}")),
                    status=PENDING,
                    attempts=0,
                    next_attempt_at=1.0,
                )
            )
    engine.dispose()
    store = Store.from_url(store_url)
    try:
        inspector = sa.inspect(store.engine)
        indexes = {ix["name"] for ix in inspector.get_indexes(inbox_events.name)}
        assert "ix_bridge_inbox_lock_key" in indexes
        assert inspector.has_table(key_leases.name)
        inbox = Inbox(store)
        assert [inbox.get(f"evt_{n}")["lock_key"] for n in range(2)] == ["in_1", "ch_1"]
        record(inbox, paid("in_2", "cus_A", 200, "evt_new"))
        assert inbox.get("evt_new")["lock_key"] == "cus_A"
        assert ids(inbox.claim("w", now=10.0, lease_seconds=60, limit=10)) == [
            "evt_0",
            "evt_1",
            "evt_new",
        ]
    finally:
        store.dispose()


# Hashing a large buffer releases the GIL: real work during which other workers run.
WORK = bytes(4_000_000)


class CustomerOverlap:
    """Fails the test if two events of one customer are ever in flight together."""

    def __init__(self, expected):
        self.expected = expected
        self.all_done = threading.Event()
        self.lock = threading.Lock()
        self.busy = set()
        self.done = 0
        self.violations = []

    def dispatch(self, event):
        customer = event["data"]["object"]["customer"]
        with self.lock:
            if customer in self.busy:
                self.violations.append(event["id"])
            self.busy.add(customer)
        hashlib.sha256(WORK).digest()  # work between the checks, so overlaps would show
        with self.lock:
            self.busy.discard(customer)
            self.done += 1
            if self.done >= self.expected:
                self.all_done.set()
        return DONE


def _customer_events(store, customers, objects, per_object):
    """Per customer: invoices and charges (distinct objects), several events each. Customer
    by customer in `created` order, so without key leases workers would take different
    objects of one customer together."""
    for c in range(customers):
        for o in range(objects):
            for n in range(per_object):
                created = 1000 + c * 100 + n * 10 + o
                event_id = f"evt_{c}_{o}_{n}"
                if o % 2:
                    event = refunded(f"ch_{c}_{o}", f"cus_{c}", created, event_id)
                else:
                    event = paid(f"in_{c}_{o}", f"cus_{c}", created, event_id)
                Inbox(store).record(
                    EventEnvelope.parse(event), json.dumps(event), now=float(-n), handled=True
                )


def test_concurrent_worker_threads_never_overlap_one_customer(store):
    customers, objects, per_object = 4, 3, 4
    _customer_events(store, customers, objects, per_object)
    detector = CustomerOverlap(customers * objects * per_object)
    pool = [
        BackgroundWorker(
            Worker(store, detector, batch_size=1, owner=f"w{i}", retention_seconds=float("inf")),
            idle_wait=0.01,
        )
        for i in range(4)
    ]
    for handle in pool:
        handle.start()
    try:
        assert detector.all_done.wait(60), "workers did not finish"
    finally:
        for handle in pool:
            handle.stop()
    assert detector.violations == []
    assert Inbox(store).counts() == {
        ("invoice.paid", DONE): customers * 2 * per_object,  # objects 0 and 2
        ("charge.refunded", DONE): customers * per_object,  # object 1
    }
    assert leases(store) == {}


CHILD = r"""
import hashlib, os, sys, time
from connector.store import Store
from connector.sync.worker import Worker
WORK = bytes(4_000_000)
class Log:
    def dispatch(self, event):
        obj = event["data"]["object"]
        with open(sys.argv[2], "a") as f:
            line = f"{os.getpid()} {event['id']} {obj['customer']} {obj['id']} {event['created']}"
            f.write(f"start {time.monotonic_ns()} {line}\n")
            f.flush()
            hashlib.sha256(WORK).digest()
            f.write(f"end {time.monotonic_ns()} {line}\n")
        return "done"
store = Store.from_url(sys.argv[1])
print("ready", flush=True)
sys.stdin.readline()  # start gate: all processes claim together
Worker(store, Log(), batch_size=1).run_until_idle()
"""


@pytest.mark.postgres
def test_worker_processes_on_postgres_never_overlap_one_customer(postgres_store_url, tmp_path):
    """Separate OS processes sharing PostgreSQL: per customer, handler intervals never overlap."""
    from connector.store import Store

    store = Store.from_url(postgres_store_url)
    try:
        customers, objects, per_object = 6, 3, 4
        _customer_events(store, customers, objects, per_object)
        log = tmp_path / "log"
        children = [
            subprocess.Popen(
                [sys.executable, "-c", CHILD, postgres_store_url, str(log)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for _ in range(4)
        ]
        try:
            for child in children:
                assert child.stdout.readline().strip() == "ready"
            for child in children:
                child.stdin.write("go\n")
                child.stdin.flush()
            for child in children:
                assert child.wait(timeout=120) == 0
        finally:
            for child in children:
                child.stdin.close()
                child.stdout.close()
                if child.poll() is None:
                    child.kill()
                    child.wait()
        lines = [line.split() for line in log.read_text().splitlines()]
        total = customers * objects * per_object
        assert len([line for line in lines if line[0] == "start"]) == total
        intervals = defaultdict(dict)  # customer -> event -> [start, end]
        by_object = defaultdict(list)
        for kind, stamp, _pid, event_id, customer, obj, created in lines:
            intervals[customer].setdefault(event_id, [0, 0])[kind == "end"] = int(stamp)
            if kind == "start":
                by_object[obj].append(int(created))
        for customer, spans in intervals.items():
            ordered = sorted(spans.values())
            for (_, end), (start, _) in zip(ordered, ordered[1:], strict=False):
                assert end < start, f"two events of {customer} overlapped"
        for obj, seen in by_object.items():
            assert seen == sorted(seen), f"{obj} processed out of created order"
        with store.engine.connect() as conn:
            statuses = conn.execute(sa.select(inbox_events.c.status).distinct()).scalars().all()
        assert statuses == [DONE]
        assert leases(store) == {}
    finally:
        store.dispose()
