"""Issue 10 fault 6: when Stripe answers 404 on the re-read (the object deleted, test data
wiped), a stale event must not win: the event-time guard holds against every state applied
before, fresh or not. Through the signed webhook endpoint and the worker."""

from __future__ import annotations

from typing import Any

import pytest

from connector.sync.inbox import DONE, IGNORED
from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000


@pytest.fixture
def bridge(store: Any) -> Bridge:
    b = Bridge(store)
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    return b


def active() -> dict[str, Any]:
    return se.subscription("sub_A")


def canceled() -> dict[str, Any]:
    return se.subscription("sub_A", status="canceled", canceled_at=T + 10)


def row_status(bridge: Bridge) -> str:
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert row is not None
    return str(row["Status"])


def test_a_stale_update_after_a_fresh_cancel_and_a_wipe_changes_nothing(bridge: Bridge) -> None:
    bridge.stripe.subscriptions["sub_A"] = canceled()
    bridge.post(se.event("customer.subscription.deleted", canceled(), T + 10))
    assert row_status(bridge) == "canceled"
    del bridge.stripe.subscriptions["sub_A"]  # test data wiped
    stale = se.event("customer.subscription.updated", active(), T + 5)
    bridge.post(stale)
    assert bridge.status(stale["id"]) == DONE
    assert row_status(bridge) == "canceled"
    customer = bridge.caspio.row("Billing_Customers", "CUST-A")
    assert customer is not None and customer["ActiveSubscriptions"] == 0


def test_without_any_fresh_object_the_newest_payload_wins(bridge: Bridge) -> None:
    bridge.post(
        se.event("customer.subscription.deleted", canceled(), T + 10),
        se.event("customer.subscription.updated", active(), T + 5),
    )
    assert row_status(bridge) == "canceled"
    # and a newer payload still applies
    renewed = se.subscription("sub_A", status="past_due")
    bridge.post(se.event("customer.subscription.updated", renewed, T + 20))
    assert row_status(bridge) == "past_due"


@pytest.mark.parametrize("cancel_first", [True, False])
def test_within_one_second_an_ending_wins_whatever_the_order(
    bridge: Bridge, cancel_first: bool
) -> None:
    events = [
        se.event("customer.subscription.deleted", canceled(), T + 10),
        se.event("customer.subscription.updated", active(), T + 10),
    ]
    bridge.post(*(events if cancel_first else events[::-1]))
    assert row_status(bridge) == "canceled"


def test_a_checkout_applied_state_guards_a_later_stale_event(bridge: Bridge) -> None:
    bridge.stripe.subscriptions["sub_A"] = canceled()
    session = se.recorded("checkout.session") | {
        "id": "cs_1",
        "mode": "subscription",
        "subscription": "sub_A",
        "customer": "cus_A",
        "client_reference_id": "SUBKEY-A",
        "metadata": {},
    }
    bridge.post(se.event("checkout.session.completed", session, T + 10))
    del bridge.stripe.subscriptions["sub_A"]
    bridge.post(se.event("customer.subscription.updated", active(), T + 5))
    assert row_status(bridge) == "canceled"


def test_a_customer_deleted_in_stripe_is_not_an_error(bridge: Bridge) -> None:
    bridge.stripe.deleted_customers.add("cus_X")
    inv = se.invoice(
        "in_x",
        customer="cus_X",
        subscription_id=None,
        sub_key=None,
        customer_key=None,
        plan_key=None,
        status="paid",
        amount_paid=2000,
        paid_at=T,
    )
    event = se.event("invoice.paid", inv, T)
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    row = bridge.caspio.row("Billing_Payments", "in_x")
    assert row is not None and row.get("CustomerKey") is None


def test_an_invoice_gone_from_stripe_is_written_from_its_event(bridge: Bridge) -> None:
    bridge.stripe.wiped.add("in_w")
    paid = se.invoice("in_w", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    failed = se.invoice("in_w", attempt_count=1)
    events = [se.event("invoice.payment_failed", failed, T), se.event("invoice.paid", paid, T + 9)]
    bridge.post(*events)
    assert [bridge.status(e["id"]) for e in events] == [DONE, DONE]
    row = bridge.caspio.row("Billing_Payments", "in_w")
    assert row is not None and (row["Status"], row["Amount"]) == ("succeeded", 20)


def test_a_refund_and_a_dispute_of_a_payment_gone_from_stripe_end_done(bridge: Bridge) -> None:
    bridge.stripe.wiped.add("pi_w")
    refund = se.event("charge.refunded", se.charge("ch_w", intent_id="pi_w", refunded=100), T)
    dispute = se.recorded("dispute") | {
        "id": "dp_w",
        "charge": "ch_w",
        "payment_intent": "pi_w",
        "amount": 2000,
        "currency": "usd",
        "status": "needs_response",
    }
    disputed = se.event("charge.dispute.created", dispute, T)
    bridge.post(refund, disputed)
    assert bridge.status(refund["id"]) == IGNORED and bridge.status(disputed["id"]) == DONE
    row = bridge.caspio.row("Billing_Disputes", "dp_w")
    assert row is not None and row.get("InvoiceID") is None
