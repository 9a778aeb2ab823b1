"""A Stripe object missing its id, status or currency is dead at once with the reason:
never a row keyed None, a None status, or an amount read as dollars."""

import pytest

from connector.sync.inbox import DEAD
from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import customer_a_bridge

T = 1_800_000_000
USD = {"currency": "usd"}  # Stripe always sends it; the shared builders leave it None


@pytest.fixture
def bridge(store):
    return customer_a_bridge(store, now=T, max_attempts=2)


def test_a_subscription_without_a_status_is_an_error_not_a_none_status(bridge):
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A") | {"status": None}
    event = se.event("customer.subscription.updated", bridge.stripe.subscriptions["sub_A"], T)
    bridge.deliver(event)
    bridge.clock.now += 61
    bridge.worker.run_until_idle()
    assert "Status" not in bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    row = bridge.inbox.get(event["id"])
    assert row["status"] == DEAD
    assert "sub_A has no status" in row["last_error"]


@pytest.mark.parametrize(
    ("event_type", "obj"),
    [
        ("invoice.paid", se.invoice("x", status="paid", amount_paid=2000, paid_at=T)),
        ("payout.paid", se.payout("x", status="paid") | USD),
    ],
)
def test_an_object_without_an_id_is_an_error_not_a_row_keyed_none(bridge, event_type, obj):
    event = se.event(event_type, obj | {"id": None}, T)
    bridge.deliver(event)
    bridge.clock.now += 61
    bridge.worker.run_until_idle()
    assert bridge.caspio.tables["Billing_Payments"] == []
    assert bridge.caspio.tables["Billing_Payouts"] == []
    row = bridge.inbox.get(event["id"])
    assert row["status"] == DEAD
    assert "data.object has no id" in row["last_error"]


@pytest.mark.parametrize(
    ("event_type", "obj", "table"),
    [
        (
            "invoice.paid",
            se.invoice("in_j", status="paid", amount_paid=5000, currency="jpy", paid_at=T),
            "Billing_Payments",
        ),
        ("payout.paid", se.payout("po_j", status="paid") | USD, "Billing_Payouts"),
        (
            "charge.dispute.created",
            se.dispute("dp_j", charge_id="ch_1", intent_id="pi_1") | USD,
            "Billing_Disputes",
        ),
    ],
)
def test_an_amount_without_its_currency_is_an_error_not_dollars(bridge, event_type, obj, table):
    # 5000 yen read as usd would be written as 50.00
    event = se.event(event_type, obj | {"currency": None}, T)
    bridge.deliver(event)
    bridge.clock.now += 61
    bridge.worker.run_until_idle()
    assert bridge.caspio.tables[table] == []
    row = bridge.inbox.get(event["id"])
    assert row["status"] == DEAD
    assert "has no currency" in row["last_error"]


def test_a_subscription_without_its_currency_writes_no_values(bridge):
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A") | {"currency": None}
    event = se.event("customer.subscription.updated", bridge.stripe.subscriptions["sub_A"], T)
    bridge.deliver(event)
    bridge.clock.now += 61
    bridge.worker.run_until_idle()
    assert "MonthlyValue" not in bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert bridge.inbox.get(event["id"])["status"] == DEAD
