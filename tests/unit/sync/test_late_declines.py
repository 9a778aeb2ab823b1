"""Issue 10 fault 4: a failed attempt's decline is kept even when the event is processed
after a later attempt paid the invoice (PRODUCT.md: Status only moves forward). Through the
signed webhook endpoint and the worker."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
DAY = 86400


@pytest.fixture
def bridge(store: Any) -> Bridge:
    b = Bridge(store)
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    return b


def failed_charge(charge_id: str, at: int, decline: str, message: str) -> dict[str, Any]:
    charge = se.charge(charge_id, intent_id="pi_1")
    charge.update(
        {
            "status": "failed",
            "paid": False,
            "created": at,
            "failure_code": "card_declined",
            "failure_message": message,
            "outcome": {"type": "issuer_declined", "reason": decline},
        }
    )
    return charge


def paid_after_declines(bridge: Bridge) -> None:
    """Stripe's state once attempt 3 paid: the intent no longer carries any decline; the
    failed attempts' charges keep theirs."""
    bridge.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_ok")]
    ok = se.charge("ch_ok", intent_id="pi_1") | {"status": "succeeded", "created": T + 5 * DAY}
    bridge.stripe.charges["pi_1"] = [
        ok,
        failed_charge("ch_f2", T + 3 * DAY, "expired_card", "Your card has expired."),
        failed_charge("ch_f1", T, "insufficient_funds", "Your card has insufficient funds."),
    ]


def failed_event(at: int, attempt: int) -> dict[str, Any]:
    inv = se.invoice(
        "in_1", status="open", attempt_count=attempt, next_payment_attempt=at + 3 * DAY
    )
    return se.event("invoice.payment_failed", inv, at)


def paid_event(at: int) -> dict[str, Any]:
    inv = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=3, paid_at=at)
    return se.event("invoice.paid", inv, at)


def test_a_failure_processed_after_the_invoice_was_paid_keeps_its_decline(bridge: Bridge) -> None:
    paid_after_declines(bridge)
    # a backlog: the failure is processed only after Stripe's state moved on
    bridge.post(failed_event(T, 1))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    assert (row["Status"], row["FailureCode"], row["FailureMessage"]) == (
        "failed",
        "insufficient_funds",
        "Your card has insufficient funds.",
    )
    assert row["FailedAt"] == "2027-01-15T08:00:00"


def test_each_late_failure_takes_its_own_attempts_decline(bridge: Bridge) -> None:
    paid_after_declines(bridge)
    bridge.post(failed_event(T, 1), failed_event(T + 3 * DAY, 2), paid_event(T + 5 * DAY))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    assert (row["Status"], row["FailureCode"], row["FailureMessage"], row["ChargeID"]) == (
        "succeeded",
        "expired_card",
        "Your card has expired.",
        "ch_ok",
    )


def test_a_failure_replayed_after_success_keeps_the_decline_and_the_success(
    bridge: Bridge,
) -> None:
    paid_after_declines(bridge)
    bridge.post(paid_event(T + 5 * DAY), failed_event(T, 1))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    assert (row["Status"], row["FailureCode"], row["ChargeID"]) == (
        "succeeded",
        "insufficient_funds",
        "ch_ok",
    )


def test_a_current_decline_is_read_from_the_intent_without_listing_charges(
    bridge: Bridge,
) -> None:
    error = {
        "code": "card_declined",
        "decline_code": "insufficient_funds",
        "message": "Your card has insufficient funds.",
        "charge": "ch_f1",
    }
    bridge.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_f1", error=error)]
    bridge.post(failed_event(T, 1))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    assert row["FailureCode"] == "insufficient_funds"
    assert bridge.stripe.calls["charges.list"] == 0
