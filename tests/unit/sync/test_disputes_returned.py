"""Issue 10 fault 5: a dispute that ends in the merchant's favour gives the payment back the
status it had before the dispute; a lost one stays `disputed`. Through the signed webhook
endpoint and the worker."""

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
    b.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    paid = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    b.post(se.event("invoice.paid", paid, T))
    return b


def dispute(status: str, at: int) -> dict[str, Any]:
    obj = se.recorded("dispute") | {
        "id": "dp_1",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "amount": 2000,
        "currency": "usd",
        "reason": "fraudulent",
        "status": status,
    }
    kind = (
        "charge.dispute.closed"
        if status in ("won", "lost", "warning_closed")
        else ("charge.dispute.created")
    )
    return se.event(kind, obj, at)


def payment_status(bridge: Bridge) -> str:
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    return str(row["Status"])


@pytest.mark.parametrize("ending", ["won", "warning_closed", "prevented"])
def test_a_dispute_ended_in_our_favour_gives_the_status_back(bridge: Bridge, ending: str) -> None:
    opening = "warning_needs_response" if ending == "warning_closed" else "needs_response"
    bridge.post(dispute(opening, T + DAY))
    assert payment_status(bridge) == "disputed"
    bridge.post(dispute(ending, T + 20 * DAY))
    assert payment_status(bridge) == "succeeded"
    row = bridge.caspio.row("Billing_Disputes", "dp_1")
    assert row is not None and row["Status"] == ending


def test_a_lost_dispute_stays_disputed(bridge: Bridge) -> None:
    bridge.post(dispute("needs_response", T + DAY), dispute("lost", T + 20 * DAY))
    assert payment_status(bridge) == "disputed"


def test_a_won_dispute_gives_back_a_partial_refund_made_before_it(bridge: Bridge) -> None:
    refunded = se.charge("ch_1", intent_id="pi_1", refunded=500)
    bridge.post(se.event("charge.refunded", refunded, T + DAY))
    assert payment_status(bridge) == "partially_refunded"
    bridge.post(dispute("needs_response", T + 2 * DAY), dispute("won", T + 20 * DAY))
    assert payment_status(bridge) == "partially_refunded"
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None and row["RefundedAmount"] == 5


def test_a_won_dispute_never_undoes_a_full_refund_made_during_it(bridge: Bridge) -> None:
    bridge.post(dispute("needs_response", T + DAY))
    full = se.charge("ch_1", intent_id="pi_1", refunded=2000)
    bridge.post(se.event("charge.refunded", full, T + 2 * DAY), dispute("won", T + 20 * DAY))
    assert payment_status(bridge) == "refunded"


def test_a_later_renewal_event_of_the_invoice_does_not_bring_disputed_back(
    bridge: Bridge,
) -> None:
    bridge.post(dispute("needs_response", T + DAY), dispute("won", T + 20 * DAY))
    paid = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    bridge.post(se.event("invoice.payment_succeeded", paid, T + 21 * DAY))
    assert payment_status(bridge) == "succeeded"
