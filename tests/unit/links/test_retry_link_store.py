"""Retry links in the store (SQLite and PostgreSQL): issue, claim once, settle, expire."""

from __future__ import annotations

import threading

from connector.links.rate_limits import Limit, RateLimiter
from connector.links.retry_links import RetryLinkStore
from connector.links.tokens import token_hash
from connector.store import rate_limits, retry_links


class Clock:
    def __init__(self, now: float = 2_000_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_only_the_hash_is_stored_and_the_link_is_bound_to_its_invoice(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    token = links.issue("in_1", 1, "The card has expired.")
    assert token is not None
    with link_store.engine.connect() as conn:
        rows = [dict(r._mapping) for r in conn.execute(retry_links.select())]
    assert len(rows) == 1
    assert token not in str(rows)
    assert rows[0]["token_hash"] == token_hash(token)
    link = links.find(token)
    assert link is not None
    assert (link.invoice_id, link.attempt, link.state, link.reason) == (
        "in_1", 1, "available", "The card has expired."
    )
    assert links.find("A" * 43) is None  # well formed, never issued
    assert links.find("not a token") is None


def test_a_later_attempt_replaces_the_link_and_a_stale_one_gets_none(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    first = links.issue("in_1", 1)
    second = links.issue("in_1", 2)
    assert first and second and first != second
    assert links.find(first).state == "replaced"
    assert links.find(second).state == "available"
    assert links.issue("in_1", 1) is None  # a late event of the older attempt
    assert links.find(second).state == "available"


def test_the_failure_of_a_used_link_gets_no_fresh_link_for_the_same_attempt(link_store):
    # A manual /pay does not bump attempt_count, so its payment_failed has the same attempt.
    links = RetryLinkStore(link_store, clock=Clock())
    token = links.issue("in_1", 1)
    link = links.find(token)
    assert links.claim(link)
    links.finish(link, "failed", "The card has expired.")
    assert links.issue("in_1", 1) is None
    assert links.find(token).state == "failed"
    # Stripe's next automatic attempt fails too: a fresh link.
    assert links.issue("in_1", 2) is not None


def test_an_unused_link_of_the_same_attempt_is_replaced_on_a_replayed_event(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    first = links.issue("in_1", 1)
    again = links.issue("in_1", 1)
    assert again is not None and again != first
    assert links.find(first).state == "replaced"


def test_twenty_concurrent_claims_have_one_winner(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    link = links.find(links.issue("in_1", 1))
    barrier = threading.Barrier(20)
    wins: list[bool] = []

    def claim() -> None:
        barrier.wait()
        wins.append(links.claim(link))

    threads = [threading.Thread(target=claim) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(wins) == [False] * 19 + [True]
    assert links.find_by_hash(link.token_hash).state == "used"


def test_an_expired_link_cannot_be_claimed(link_store):
    clock = Clock()
    links = RetryLinkStore(link_store, days=30, clock=clock)
    link = links.find(links.issue("in_1", 1))
    clock.now += 30 * 86400
    assert link.expired(clock())
    assert not links.claim(link)


def test_release_makes_a_claimed_link_available_again(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    link = links.find(links.issue("in_1", 1))
    assert links.claim(link)
    links.release(link)
    assert links.claim(link)


def test_a_claim_left_without_an_outcome_can_be_taken_again_after_ten_minutes(link_store):
    clock = Clock()
    links = RetryLinkStore(link_store, clock=clock)
    link = links.find(links.issue("in_1", 1))
    assert links.claim(link)  # ... and the process dies before finish()
    clock.now += 599
    assert not links.claim(link)
    clock.now += 2
    assert links.claim(link)
    assert not links.claim(link)


def test_paid_by_any_route_ends_every_link_of_the_invoice(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    assert links.settle_paid("in_never_failed") is False
    token = links.issue("in_1", 1)
    assert links.settle_paid("in_1") is True
    link = links.find(token)
    assert link.state == "succeeded"
    assert not links.claim(link)


def test_a_void_invoice_closes_its_unused_link(link_store):
    links = RetryLinkStore(link_store, clock=Clock())
    token = links.issue("in_1", 1)
    links.close("in_1")
    assert links.find(token).state == "closed"


def test_rate_limits_count_per_key_and_window_in_the_store(link_store):
    clock = Clock(6000.0)
    limiter = RateLimiter(link_store, clock=clock)
    other_process = RateLimiter(link_store, clock=clock)  # same store, same counters
    limit = Limit(3, 600)
    assert [limiter.hit("invoice", "in_1", limit) for _ in range(2)] == [True, True]
    assert other_process.hit("invoice", "in_1", limit) is True
    assert limiter.hit("invoice", "in_1", limit) is False
    assert limiter.hit("invoice", "in_2", limit) is True
    assert limiter.hit("address", "in_1", limit) is True
    clock.now += 600  # the next window
    assert limiter.hit("invoice", "in_1", limit) is True
    clock.now += 2 * 86400
    limiter.hit("invoice", "in_3", limit)  # a new bucket prunes windows over a day old
    with link_store.engine.connect() as conn:
        left = conn.execute(rate_limits.select()).fetchall()
    assert [row.bucket.split(":")[2] for row in left] == ["in_3"]


def test_settling_a_paid_invoice_that_never_had_a_link_writes_nothing(link_store):
    """Most paid invoices never failed: settle_paid answers them from a read, without a
    write transaction (on SQLite each one queued for the database's write lock)."""
    links = RetryLinkStore(link_store, clock=Clock())
    links.issue("in_failed", 1, "declined")
    writes: list[str] = []
    original = link_store.transaction

    def counted():
        writes.append("transaction")
        return original()

    link_store.transaction = counted
    try:
        assert links.settle_paid("in_never_failed") is False
        assert writes == []
        assert links.settle_paid("in_failed") is True
        assert writes == ["transaction"]
    finally:
        del link_store.transaction
