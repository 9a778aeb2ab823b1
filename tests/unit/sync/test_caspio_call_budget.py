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
