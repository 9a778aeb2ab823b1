import json

import sqlalchemy as sa

from connector import migrations
from connector.store import Store, engine_url, inbox_events
from connector.sync.inbox import DEAD, DONE, IGNORED, PENDING, PROCESSING, EventEnvelope, Inbox
from tests.fixtures import stripe_events as se


def record(inbox, event, *, now=1000.0, handled=True):
    return inbox.record(EventEnvelope.parse(event), json.dumps(event), now=now, handled=handled)


def test_migrate_is_repeatable_and_reports_the_revision(store):
    head = migrations.head_revision()
    assert store.schema_revision() == head
    assert store.migrate() == head
    assert store.schema_revision() == head


def test_postgres_urls_use_psycopg3():
    assert engine_url("postgresql://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("postgres://u@h/db") == "postgresql+psycopg://u@h/db"
    assert engine_url("sqlite:///x.db") == "sqlite:///x.db"


def test_sqlite_store_is_wal_with_full_sync(tmp_path):
    store = Store.from_url(f"sqlite:///{tmp_path}/b.db")
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.dispose()


def test_a_duplicate_event_id_is_stored_once(store):
    inbox = Inbox(store)
    event = se.event("invoice.paid", se.invoice("in_1"), 100, event_id="evt_dup")
    assert record(inbox, event) is True
    assert record(inbox, event, now=1001.0) is False
    with store.engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(inbox_events)).scalar() == 1
    row = inbox.get("evt_dup")
    assert row["status"] == PENDING
    assert row["object_id"] == "in_1"
    assert row["object_type"] == "invoice"
    assert row["created"] == 100


def test_unhandled_events_are_stored_as_ignored_and_never_claimed(store):
    inbox = Inbox(store)
    record(
        inbox, se.event("customer.created", se.recorded("customer"), 100, "evt_x"), handled=False
    )
    assert inbox.get("evt_x")["status"] == IGNORED
    assert inbox.claim("w1", now=2000.0, lease_seconds=60, limit=10) == []


def test_one_object_is_claimed_in_created_order_one_event_at_a_time(store):
    inbox = Inbox(store)
    late = se.event("invoice.paid", se.invoice("in_1"), 300, "evt_late")
    early = se.event("invoice.finalized", se.invoice("in_1"), 200, "evt_early")
    other = se.event("invoice.paid", se.invoice("in_2", customer="cus_B"), 250, "evt_other")
    record(inbox, late, now=1.0)
    record(inbox, early, now=2.0)
    record(inbox, other, now=3.0)
    first = inbox.claim("w1", now=10.0, lease_seconds=60, limit=10)
    assert [e.event_id for e in first] == ["evt_early", "evt_other"]
    # evt_late waits while evt_early is in processing, even for another worker
    assert inbox.claim("w2", now=10.0, lease_seconds=60, limit=10) == []
    assert inbox.complete("evt_early", "w1", now=11.0)
    assert [e.event_id for e in inbox.claim("w2", now=11.0, lease_seconds=60, limit=10)] == [
        "evt_late"
    ]


def test_same_second_events_keep_their_arrival_order(store):
    inbox = Inbox(store)
    record(inbox, se.event("invoice.finalized", se.invoice("in_1"), 200, "evt_b"), now=1.0)
    record(inbox, se.event("invoice.paid", se.invoice("in_1"), 200, "evt_a"), now=2.0)
    assert [e.event_id for e in inbox.claim("w", now=5.0, lease_seconds=60, limit=10)] == ["evt_b"]


def test_an_expired_lease_is_recovered_and_the_old_owner_cannot_settle(store):
    inbox = Inbox(store)
    record(inbox, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    (claimed,) = inbox.claim("dead-worker", now=1000.0, lease_seconds=30, limit=5)
    assert claimed.attempts == 1
    assert inbox.claim("w2", now=1029.0, lease_seconds=30, limit=5) == []
    (again,) = inbox.claim("w2", now=1031.0, lease_seconds=30, limit=5)
    assert again.attempts == 2
    assert inbox.complete("evt_1", "dead-worker", now=1032.0) is False
    assert inbox.get("evt_1")["status"] == PROCESSING
    assert inbox.complete("evt_1", "w2", now=1033.0) is True
    assert inbox.get("evt_1")["status"] == DONE


def test_retry_waits_for_its_time_and_requeue_revives_the_dead(store):
    inbox = Inbox(store)
    record(inbox, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    inbox.claim("w", now=1000.0, lease_seconds=30, limit=5)
    inbox.retry_later("evt_1", "w", at=1100.0, error="boom", traceback_text="tb")
    assert inbox.claim("w", now=1099.0, lease_seconds=30, limit=5) == []
    inbox.claim("w", now=1100.0, lease_seconds=30, limit=5)
    inbox.kill("evt_1", "w", now=1101.0, error="boom again", traceback_text="Traceback…")
    row = inbox.get("evt_1")
    assert (row["status"], row["last_error"], row["attempts"]) == (DEAD, "boom again", 2)
    assert inbox.requeue(now=1200.0) == 1
    row = inbox.get("evt_1")
    assert (row["status"], row["attempts"]) == (PENDING, 0)
    assert inbox.counts() == {("invoice.paid", PENDING): 1}


def test_an_in_memory_url_gives_one_store_shared_by_threads_and_removed_on_dispose():
    import os
    import threading

    store = Store.from_url("sqlite://")
    path = store.engine.url.database
    inbox = Inbox(store)

    def put(n):
        record(inbox, se.event("invoice.paid", se.invoice(f"in_{n}"), 100, f"evt_{n}"))

    threads = [threading.Thread(target=put, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert inbox.counts() == {("invoice.paid", PENDING): 8}
    store.dispose()
    assert not os.path.exists(path)
