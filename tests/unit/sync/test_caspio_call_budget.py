"""Issue 10 fault 7: no Caspio call that cannot find anything. An object that names no
Caspio row (made in the Stripe dashboard) is written without a Caspio lookup. Through the
signed webhook endpoint and the worker."""

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
    b.stripe.customers["cus_D"] = {"id": "cus_D", "metadata": {}}
    return b


def caspio_calls(bridge: Bridge) -> list[tuple[str, str]]:
    return [(method, table) for method, table, _body in bridge.caspio.calls]


def dashboard_invoice(invoice_id: str, subscription_id: str | None = "sub_D") -> dict[str, Any]:
    return se.invoice(
        invoice_id,
        subscription_id=subscription_id,
        customer="cus_D",
        sub_key=None,
        customer_key=None,
        plan_key=None,
        status="paid",
        amount_paid=2000,
        attempt_count=1,
        paid_at=T,
    )


def test_a_dashboard_subscriptions_invoice_costs_one_caspio_call(bridge: Bridge) -> None:
    event = se.event("invoice.paid", dashboard_invoice("in_d"), T)
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    assert caspio_calls(bridge) == [("POST", "Billing_Payments")]
    row = bridge.caspio.row("Billing_Payments", "in_d")
    assert row is not None
    assert (row.get("SubscriptionKey"), row.get("CustomerKey"), row["Status"]) == (
        None,
        None,
        "succeeded",
    )


def test_a_one_off_invoice_costs_one_caspio_call(bridge: Bridge) -> None:
    event = se.event("invoice.paid", dashboard_invoice("in_o", subscription_id=None), T)
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    assert caspio_calls(bridge) == [("POST", "Billing_Payments")]


def test_a_one_off_invoice_takes_the_customer_key_from_stripe_metadata(bridge: Bridge) -> None:
    bridge.stripe.customers["cus_D"]["metadata"] = {"caspio_customer_key": "CUST-A"}
    bridge.post(se.event("invoice.paid", dashboard_invoice("in_o", subscription_id=None), T))
    assert caspio_calls(bridge) == [("POST", "Billing_Payments")]
    row = bridge.caspio.row("Billing_Payments", "in_o")
    assert row is not None and row["CustomerKey"] == "CUST-A"


def test_a_dashboard_subscription_is_ignored_without_any_caspio_call(bridge: Bridge) -> None:
    sub = se.subscription("sub_D", customer="cus_D", sub_key=None, plan_key=None)
    bridge.stripe.subscriptions["sub_D"] = sub
    event = se.event("customer.subscription.created", sub, T)
    bridge.post(event)
    assert bridge.status(event["id"]) == IGNORED
    assert caspio_calls(bridge) == []


def test_a_bridge_made_invoice_may_still_find_its_customer_in_caspio(bridge: Bridge) -> None:
    # the subscription names its Caspio row; the customer (made elsewhere) has no metadata
    bridge.caspio.tables["Billing_Customers"][0]["StripeCustomerID"] = "cus_D"
    inv = dashboard_invoice("in_b") | {}
    inv["parent"]["subscription_details"]["metadata"] = {"caspio_subscription_key": "SUBKEY-A"}
    bridge.post(se.event("invoice.paid", inv, T))
    row = bridge.caspio.row("Billing_Payments", "in_b")
    assert row is not None and row["CustomerKey"] == "CUST-A"


def ignored_by_reason(bridge: Bridge) -> dict[tuple[str, str], float]:
    counts: dict[tuple[str, str], float] = {}
    for family in bridge.ctx.metrics.registry.collect():
        for sample in family.samples:
            if sample.name == "bridge_events_ignored_total":
                counts[(sample.labels["type"], sample.labels["reason"])] = sample.value
    return counts


def test_objects_the_bridge_did_not_create_end_ignored_and_counted_by_reason(
    bridge: Bridge,
) -> None:
    """PRODUCT.md: such events end done or ignored, never dead, each ignored one counted."""
    sub = se.subscription("sub_D", customer="cus_D", sub_key=None, plan_key=None)
    bridge.stripe.subscriptions["sub_D"] = sub
    bare = se.charge("ch_bare", intent_id="pi_bare", refunded=100)
    payment = se.recorded("checkout.session") | {
        "id": "cs_pay",
        "mode": "payment",
        "subscription": None,
        "customer": "cus_D",
    }
    events = [
        se.event("customer.subscription.updated", sub, T),
        se.event("charge.refunded", bare, T),
        se.event("checkout.session.completed", payment, T),
    ]
    bridge.post(*events)
    assert [bridge.status(e["id"]) for e in events] == [IGNORED] * 3
    assert ignored_by_reason(bridge) == {
        ("customer.subscription.updated", "no_caspio_subscription_key"): 1.0,
        ("charge.refunded", "charge_without_invoice"): 1.0,
        ("checkout.session.completed", "not_a_subscription_checkout"): 1.0,
    }
    assert bridge.caspio.calls == []


def test_a_dispute_of_a_bare_charge_is_written_without_an_invoice(bridge: Bridge) -> None:
    dispute = se.recorded("dispute") | {
        "id": "dp_bare",
        "charge": "ch_bare",
        "payment_intent": "pi_bare",
        "amount": 700,
        "currency": "usd",
        "status": "needs_response",
    }
    event = se.event("charge.dispute.created", dispute, T)
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    row = bridge.caspio.row("Billing_Disputes", "dp_bare")
    assert row is not None
    assert (row.get("InvoiceID"), row["ChargeID"], row["Amount"]) == (None, "ch_bare", 7)
    assert caspio_calls(bridge) == [("POST", "Billing_Disputes")]
