"""Leases are renewed while a batch runs and checked before each event (issue #11, fault 1:
a batch could outlive its lease, and two workers then ran the same events)."""

from __future__ import annotations

import threading
import time
import uuid

from connector.sync.inbox import DONE, PROCESSING, Inbox
from connector.sync.worker import DEFAULT_LEASE_SECONDS, Worker
from tests.fixtures import stripe_events as se
from tests.unit.sync.test_worker import Clock, add


def invoice_event(n: int, customer: str) -> dict:
    return se.event("invoice.paid", se.invoice(f"in_{n}", customer=customer), 100 + n, f"evt_{n}")


def unique_customer() -> str:
    # Key locks are per database; other test runs may share the PostgreSQL server.
    return f"cus_{uuid.uuid4().hex}"


def test_renew_extends_only_the_owners_leases_and_says_what_it_still_holds(store):
    customer = unique_customer()
    add(store, invoice_event(1, customer))
    add(store, invoice_event(2, unique_customer()))
    inbox = Inbox(store)
    assert len(inbox.claim("w1", now=10.0, lease_seconds=30.0, limit=1)) == 1
    assert len(inbox.claim("w2", now=10.0, lease_seconds=30.0, limit=1)) == 1
    assert inbox.renew("w1", ["evt_1", "evt_2"], now=35.0, lease_seconds=30.0) == {"evt_1"}
    assert inbox.get("evt_1")["lease_expires_at"] == 65.0
    assert inbox.get("evt_2")["lease_expires_at"] == 40.0  # w2's lease untouched
    # The renewed key keeps another worker off the customer past the first lease's end.
    add(store, invoice_event(3, customer))
    claimed = [e.event_id for e in inbox.claim("w3", now=50.0, lease_seconds=30.0, limit=5)]
    assert claimed == ["evt_2"]  # w2's expired lease is taken over; evt_3's customer is not


def test_an_expired_lease_taken_over_is_no_longer_held(store):
    add(store, invoice_event(1, unique_customer()))
    inbox = Inbox(store)
    inbox.claim("w1", now=10.0, lease_seconds=30.0, limit=1)
    assert [e.event_id for e in inbox.claim("w2", now=41.0, lease_seconds=30.0, limit=1)] == [
        "evt_1"
    ]
    assert inbox.renew("w1", ["evt_1"], now=42.0, lease_seconds=30.0) == set()
    assert inbox.renew("w2", ["evt_1"], now=42.0, lease_seconds=30.0) == {"evt_1"}


def test_a_worker_does_not_run_an_event_another_worker_took_over(store):
    """Worker A claims two events; while A runs the first one its lease runs out and B takes
    the second one over. A must skip it: only B runs it."""
    for n in (1, 2):
        add(store, invoice_event(n, unique_customer()))
    clock = Clock()
    ran: list[tuple[str, str]] = []

    class Dispatcher:
        def __init__(self, name: str) -> None:
            self.name = name

        def dispatch(self, event):
            ran.append((self.name, event["id"]))
            if (self.name, event["id"]) == ("A", "evt_1"):
                clock.now += 100  # A is slow; its heartbeat kept this event's lease alive…
                worker_a.inbox.renew("A", ["evt_1"], now=clock.now, lease_seconds=30)
                worker_b.run_once()  # …but not evt_2's, which B takes over
            return DONE

    worker_a = Worker(store, Dispatcher("A"), clock=clock, lease_seconds=30, owner="A",
                      heartbeat_seconds=0)
    worker_b = Worker(store, Dispatcher("B"), clock=clock, lease_seconds=30, owner="B",
                      heartbeat_seconds=0)
    assert worker_a.run_once() == 2
    assert sorted(ran) == [("A", "evt_1"), ("B", "evt_2")]
    assert worker_a.lost == 1
    assert Inbox(store).get("evt_2")["status"] == DONE


def test_the_heartbeat_renews_the_leases_of_a_batch_while_it_runs(store):
    """A real clock and a short lease: while the first event runs, the leases of the events
    still waiting in the batch are pushed forward, so no other worker can claim them."""
    for n in (1, 2):
        add(store, invoice_event(n, unique_customer()))
    inbox = Inbox(store)
    renewed = threading.Event()
    others_claimed: list[str] = []

    class SlowFirst:
        def dispatch(self, event):
            if event["id"] == "evt_1":
                first = inbox.get("evt_2")["lease_expires_at"]
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline and not renewed.is_set():
                    if inbox.get("evt_2")["lease_expires_at"] > first:
                        renewed.set()
                    renewed.wait(0.02)
                # Past the first lease's end: another worker finds nothing to take.
                past = first + 0.01
                others_claimed.extend(
                    e.event_id for e in inbox.claim("other", now=past, lease_seconds=1, limit=5)
                )
            return DONE

    worker = Worker(store, SlowFirst(), lease_seconds=0.6, heartbeat_seconds=0.05)
    assert worker.run_once() == 2
    assert renewed.is_set()
    assert others_claimed == []
    assert inbox.get("evt_2")["status"] == DONE and worker.lost == 0


def test_the_default_lease_is_short():
    # A restarted single process must not leave a customer waiting five minutes.
    assert DEFAULT_LEASE_SECONDS <= 60
    assert Worker.__init__.__kwdefaults__["lease_seconds"] == DEFAULT_LEASE_SECONDS


def test_a_settled_event_is_not_renewed(store):
    add(store, invoice_event(1, unique_customer()))
    inbox = Inbox(store)
    inbox.claim("w1", now=10.0, lease_seconds=30.0, limit=1)
    inbox.complete("evt_1", "w1", now=11.0)
    assert inbox.renew("w1", ["evt_1"], now=12.0, lease_seconds=30.0) == set()
    assert inbox.get("evt_1")["status"] != PROCESSING


class CountingInbox(Inbox):
    def __init__(self, store) -> None:
        super().__init__(store)
        self.renewals: list[list[str]] = []

    def renew(self, owner, event_ids, *, now, lease_seconds):
        self.renewals.append(list(event_ids))
        return super().renew(owner, event_ids, now=now, lease_seconds=lease_seconds)


class Done:
    def dispatch(self, event):
        return DONE


def test_a_lease_confirmed_within_the_heartbeat_is_not_asked_for_again(store):
    """Events run right after their claim (well inside the lease) cost no renewal each: the
    claim itself confirmed the lease less than a heartbeat ago."""
    for n in (1, 2, 3):
        add(store, invoice_event(n, unique_customer()))
    clock = Clock()
    worker = Worker(store, Done(), clock=clock, lease_seconds=30, heartbeat_seconds=10)
    worker.inbox = counting = CountingInbox(store)
    assert worker.run_once() == 3
    assert counting.renewals == []
    assert all(counting.get(f"evt_{n}")["status"] == DONE for n in (1, 2, 3))


def test_a_lease_older_than_the_heartbeat_is_renewed_and_a_taken_one_skipped(store):
    """Past the heartbeat since the claim, each event's lease is asked of the store again,
    and an event another worker took over meanwhile is not run (heartbeat on)."""
    for n in (1, 2, 3):
        add(store, invoice_event(n, unique_customer()))
    clock = Clock()
    ran: list[tuple[str, str]] = []

    class SlowFirst:
        def __init__(self, name: str) -> None:
            self.name = name

        def dispatch(self, event):
            ran.append((self.name, event["id"]))
            if (self.name, event["id"]) == ("A", "evt_1"):
                clock.now += 100  # far past the lease: evt_2 and evt_3 are free to take
                worker_a.inbox.renew("A", ["evt_1", "evt_3"], now=clock.now, lease_seconds=30)
                assert worker_b.run_once() == 1  # B takes evt_2 only
            return DONE

    worker_a = Worker(store, SlowFirst("A"), clock=clock, lease_seconds=30, owner="A",
                      heartbeat_seconds=10)
    worker_a.inbox = counting = CountingInbox(store)
    worker_b = Worker(store, SlowFirst("B"), clock=clock, lease_seconds=30, owner="B",
                      heartbeat_seconds=0)
    assert worker_a.run_once() == 3
    assert sorted(ran) == [("A", "evt_1"), ("A", "evt_3"), ("B", "evt_2")]
    assert worker_a.lost == 1
    # Besides the test's own renewal (the heartbeat's stand-in), only the events after the
    # jump were asked of the store, one each.
    assert counting.renewals == [["evt_1", "evt_3"], ["evt_2"], ["evt_3"]]
