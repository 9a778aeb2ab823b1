"""The worker retries only failures a retry can fix; the rest are dead at once, with the reason
(issue #11, fault 8: every failure used to be retried ten times, and Caspio bills each call)."""

from __future__ import annotations

import pytest
import stripe

from caspio_client.errors import CaspioBadRequest, CaspioNotFound, CaspioServerError
from connector.sync.caspio_writer import MissingCaspioRow
from connector.sync.inbox import DEAD, PENDING, Inbox
from connector.sync.worker import Worker
from tests.fixtures import stripe_events as se
from tests.unit.sync.test_worker import Clock, Recorder, add


@pytest.mark.parametrize(
    "error",
    [
        CaspioBadRequest("Invalid value for Amount", status=400, method="POST", table="T"),
        CaspioNotFound("FieldNotFound: AmountX", status=404, method="POST", table="T"),
        stripe.InvalidRequestError("No such subscription", "id", http_status=400),
        KeyError("data"),
        ValueError("invoice in_1 has no currency"),
    ],
    ids=["caspio-400", "caspio-404-field", "stripe-400", "payload-key", "payload-value"],
)
def test_a_failure_no_retry_can_fix_is_dead_after_one_attempt(store, error):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    recorder = Recorder(fail_times=99, error=error)
    worker = Worker(store, recorder, clock=Clock(), max_attempts=10)
    assert worker.run_once() == 1
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["attempts"]) == (DEAD, 1)
    assert type(error).__name__ in row["last_error"]
    assert "not retryable" in row["last_error"]
    assert (worker.dead, worker.failed) == (1, 0)
    assert recorder.seen == ["evt_1"]


@pytest.mark.parametrize(
    "error",
    [
        CaspioServerError("unavailable", status=503),
        MissingCaspioRow("Billing_Customers has no row with CustomerKey = 'C1'"),
        stripe.RateLimitError("slow down", http_status=429),
        stripe.APIConnectionError("reset"),
        RuntimeError("unknown"),
    ],
    ids=["caspio-503", "missing-row", "stripe-429", "stripe-network", "unknown"],
)
def test_a_failure_a_retry_can_fix_is_retried_with_backoff(store, error):
    add(store, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_1"))
    clock = Clock()
    worker = Worker(store, Recorder(fail_times=99, error=error), clock=clock, max_attempts=2,
                    backoff=lambda n: 10.0)
    worker.run_once()
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["next_attempt_at"]) == (PENDING, clock.now + 10)
    clock.now += 10
    worker.run_once()
    row = Inbox(store).get("evt_1")
    assert (row["status"], row["attempts"]) == (DEAD, 2)
    assert "2 attempts" in row["last_error"]
