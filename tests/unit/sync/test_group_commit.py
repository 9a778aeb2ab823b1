"""Group commit: concurrent submits share a batch, each gets its own result, and one bad
item fails only itself. Waits are on events and barriers, never on time."""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest

from connector.store import Store
from connector.sync.group_commit import GroupCommit
from connector.sync.inbox import EventEnvelope, Inbox, _group_commit
from tests.fixtures import stripe_events as fx


def test_a_lone_submit_is_written_at_once_with_its_own_result():
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    assert [group.submit(n) for n in (1, 2, 3)] == [10, 20, 30]
    assert calls == [[1], [2], [3]]


def test_submits_arriving_during_a_commit_share_the_next_one():
    first_started, release = threading.Event(), threading.Event()
    calls: list[list[int]] = []

    def write(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        if len(calls) == 1:
            first_started.set()
            release.wait(30)  # the first commit is slow: the others queue behind it
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    with ThreadPoolExecutor(max_workers=9) as pool:
        leader = pool.submit(group.submit, 0)
        assert first_started.wait(30)
        followers = [pool.submit(group.submit, n) for n in range(1, 9)]
        # Every follower is queued (not yet finished) before the first commit ends.
        while True:
            with group._lock:
                if len(group._queue) == 8:
                    break
        release.set()
        assert leader.result(30) == 0
        assert [f.result(30) for f in followers] == [n * 10 for n in range(1, 9)]
    assert calls[0] == [0]
    assert sorted(calls[1]) == list(range(1, 9))
    assert len(calls) == 2 and group.batches == 2 and group.items == 9


def test_one_bad_item_fails_only_its_own_submit():
    gate, started = threading.Event(), threading.Event()

    def write(items: Sequence[int]) -> list[int]:
        if items == [0]:
            started.set()
            gate.wait(30)
        if 5 in items:
            raise ValueError("item 5 is bad")
        return list(items)

    group: GroupCommit[int, int] = GroupCommit(write)
    with ThreadPoolExecutor(max_workers=6) as pool:
        first = pool.submit(group.submit, 0)
        assert started.wait(30)
        rest = {n: pool.submit(group.submit, n) for n in range(1, 6)}
        while True:
            with group._lock:
                if len(group._queue) == 5:
                    break
        gate.set()
        assert first.result(30) == 0
        for n in range(1, 5):
            assert rest[n].result(30) == n
        with pytest.raises(ValueError, match="item 5"):
            rest[5].result(30)


def _envelope(event_id: str) -> tuple[EventEnvelope, str]:
    event = fx.event("invoice.paid", fx.invoice("in_gc1"), 1_700_000_000, event_id=event_id)
    return EventEnvelope.parse(event), json.dumps(event)


def test_inbox_records_racing_deliveries_once_and_distinct_events_all(store: Store):
    inbox = Inbox(store)
    duplicate, text = _envelope("evt_group_same")
    distinct = [_envelope(f"evt_group_{n}") for n in range(30)]
    barrier = threading.Barrier(40)

    def record(envelope, body) -> bool:
        barrier.wait(30)
        return inbox.record(envelope, body, now=1.0, handled=True)

    with ThreadPoolExecutor(max_workers=40) as pool:
        same = [pool.submit(record, duplicate, text) for _ in range(10)]
        many = [pool.submit(record, e, t) for e, t in distinct]
        assert sum(f.result(60) for f in same) == 1
        assert all(f.result(60) for f in many)
    counts = inbox.counts()
    assert sum(counts.values()) == 31
    group = _group_commit(store)
    assert group.items == 40
    assert group.batches <= 40


def test_one_batch_stores_each_event_once_and_says_which_rows_were_new(store: Store):
    """The first delivery of an id in a batch is stored; a repeat in the same batch and an id
    stored by an earlier batch are duplicates (False), on both stores."""
    from connector.sync.inbox import _insert_rows

    def row(event_id: str, body: str) -> dict[str, object]:
        return {"event_id": event_id, "type": "invoice.paid", "object_id": "in_batch",
                "object_type": "invoice", "created": 1, "lock_key": "cus_batch",
                "received_at": 1.0, "payload": body, "status": "pending", "attempts": 0,
                "next_attempt_at": 1.0}

    assert _insert_rows(store, [row("evt_old", "{}")]) == [True]
    batch = [row("evt_new", '{"n": 1}'), row("evt_old", "{}"), row("evt_new", '{"n": 2}'),
             row("evt_other", "{}")]
    assert _insert_rows(store, batch) == [True, False, False, True]
    stored = {r["event_id"]: r["payload"] for r in Inbox(store).list()}
    assert stored == {"evt_old": "{}", "evt_new": '{"n": 1}', "evt_other": "{}"}
