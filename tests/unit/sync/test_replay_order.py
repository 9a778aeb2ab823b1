"""Shuffled, duplicated deliveries reach the same Caspio rows as in-order ones."""

import random

import pytest

from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
USD = {"currency": "usd"}  # Stripe always sends it; the shared builders leave it None
DECLINE = {
    "code": "card_declined",
    "decline_code": "do_not_honor",
    "message": "Declined.",
    "charge": "ch_2",
}


def lifecycle():
    """Sign-up, a renewal that fails twice then succeeds, refunds, a dispute, a payout, a
    voided manual invoice and a second subscription: recorded shapes, Stripe's timestamps."""
    sub_incomplete = se.subscription("sub_A", status="incomplete", period_end=T + 30 * 86400)
    sub_active = se.subscription("sub_A", period_end=T + 30 * 86400)
    sub_past_due = se.subscription("sub_A", status="past_due", period_end=T + 60 * 86400)
    sub_renewed = se.subscription("sub_A", period_end=T + 60 * 86400)
    weekly = se.subscription(
        "sub_W", sub_key="SUBKEY-W", amount=700, interval="week", customer_key="CUST-A"
    )
    first = dict(subscription_id="sub_A", billing_reason="subscription_create")
    t2 = T + 30 * 86400
    manual = se.invoice(
        "in_3", status="open", collection_method="send_invoice", subscription_id=None
    )
    events = [
        se.event(
            "checkout.session.completed",
            se.checkout_session("cs_1", subscription_id="sub_A", sub_key="SUBKEY-A"),
            T + 2,
        ),
        se.event("customer.subscription.created", sub_incomplete, T),
        se.event("invoice.created", se.invoice("in_1", status="draft", **first), T),
        se.event("invoice.finalized", se.invoice("in_1", **first), T),
        se.event(
            "invoice.paid",
            se.invoice(
                "in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T + 1, **first
            ),
            T + 1,
        ),
        se.event(
            "invoice.payment_succeeded",
            se.invoice(
                "in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T + 1, **first
            ),
            T + 1,
        ),
        se.event("charge.succeeded", se.charge("ch_1", intent_id="pi_1"), T + 1),
        se.event("customer.subscription.updated", sub_active, T + 1),
        se.event("invoice.created", se.invoice("in_2", status="draft"), t2),
        se.event(
            "invoice.finalized", se.invoice("in_2", next_payment_attempt=t2 + 3600), t2 + 3600
        ),
        se.event(
            "invoice.payment_failed",
            se.invoice("in_2", attempt_count=1, next_payment_attempt=t2 + 86400),
            t2 + 3601,
        ),
        se.event("customer.subscription.updated", sub_past_due, t2 + 3601),
        se.event(
            "invoice.payment_failed",
            se.invoice("in_2", attempt_count=2, next_payment_attempt=t2 + 3 * 86400),
            t2 + 86400,
        ),
        se.event(
            "invoice.paid",
            se.invoice(
                "in_2", status="paid", amount_paid=2000, attempt_count=3, paid_at=t2 + 3 * 86400
            ),
            t2 + 3 * 86400,
        ),
        se.event("customer.subscription.updated", sub_renewed, t2 + 3 * 86400),
        se.event(
            "charge.refunded", se.charge("ch_1", intent_id="pi_1", refunded=500), t2 + 4 * 86400
        ),
        se.event(
            "charge.refunded", se.charge("ch_1", intent_id="pi_1", refunded=2000), t2 + 5 * 86400
        ),
        se.event(
            "charge.dispute.created",
            se.dispute("dp_1", charge_id="ch_2", intent_id="pi_2") | USD,
            t2 + 6 * 86400,
        ),
        se.event(
            "charge.dispute.closed",
            se.dispute("dp_1", charge_id="ch_2", intent_id="pi_2", status="lost") | USD,
            t2 + 7 * 86400,
        ),
        se.event("payout.created", se.payout("po_1", status="pending") | USD, t2 + 86400),
        se.event("payout.paid", se.payout("po_1", status="paid") | USD, t2 + 2 * 86400),
        se.event("invoice.finalized", manual, t2),
        se.event("invoice.voided", manual | {"status": "void"}, t2 + 10),
        se.event("customer.subscription.created", weekly, t2 + 20),
        se.event("customer.created", se.recorded("customer"), T),
    ]
    return events


def run(store, deliveries):
    bridge = Bridge(store)
    seed_caspio(bridge.caspio)
    bridge.caspio.tables["Billing_Subscriptions"].append(
        {"SubscriptionKey": "SUBKEY-W", "CustomerKey": "CUST-A"}
    )
    bridge.stripe.customers["cus_A"] = {
        "id": "cus_A",
        "metadata": {"caspio_customer_key": "CUST-A"},
    }
    # what a re-fetch sees: the objects' current state
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 60 * 86400)
    bridge.stripe.subscriptions["sub_W"] = se.subscription(
        "sub_W", sub_key="SUBKEY-W", amount=700, interval="week", customer_key="CUST-A"
    )
    bridge.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    bridge.stripe.payments["in_2"] = [se.invoice_payment("in_2", "pi_2", "ch_2", error=DECLINE)]
    bridge.deliver(*deliveries)
    return bridge


def rows(bridge):
    # a null field and a field never written read the same in Caspio
    return {
        table: [{k: v for k, v in row.items() if v is not None} for row in table_rows]
        for table, table_rows in bridge.caspio.snapshot().items()
    }


@pytest.mark.parametrize("seed", range(12))
def test_shuffled_with_duplicates_matches_in_order(store_url, seed, tmp_path):
    from connector.store import Store

    events = lifecycle()
    in_order = sorted(events, key=lambda e: e["created"])
    expected_store = Store.from_url(f"sqlite:///{tmp_path}/in_order.db")
    expected = rows(run(expected_store, in_order))
    expected_store.dispose()

    rng = random.Random(seed)
    shuffled = events + rng.sample(events, 8)  # duplicates: same event ids again
    rng.shuffle(shuffled)
    store = Store.from_url(store_url)
    bridge = run(store, shuffled)
    assert rows(bridge) == expected
    assert bridge.inbox.list(status="pending") == [] and bridge.inbox.list(status="dead") == []
    store.dispose()


def test_the_in_order_end_state_is_what_the_product_says(tmp_path):
    from connector.store import Store

    store = Store.from_url(f"sqlite:///{tmp_path}/b.db")
    got = rows(run(store, sorted(lifecycle(), key=lambda e: e["created"])))
    payments = {r["InvoiceID"]: r for r in got["Billing_Payments"]}
    assert set(payments) == {"in_1", "in_2", "in_3"}
    assert (payments["in_1"]["Status"], payments["in_1"]["RefundedAmount"]) == ("refunded", 20)
    assert payments["in_2"]["Status"] == "disputed"
    assert (payments["in_2"]["AttemptCount"], payments["in_2"]["FailureCode"]) == (
        3,
        "do_not_honor",
    )
    assert payments["in_3"]["Status"] == "void"
    sub = {r["SubscriptionKey"]: r for r in got["Billing_Subscriptions"]}["SUBKEY-A"]
    assert (sub["Status"], sub["AccessActive"], sub["MonthlyValue"]) == ("active", True, 20)
    customer = got["Billing_Customers"][0]
    # 20.00 monthly + 7.00 weekly (364.00 / year): 240 + 364 = 604.00 / year, 50.33 / month
    assert (
        customer["AvgYearlyTotal"],
        customer["AvgMonthlyTotal"],
        customer["ActiveSubscriptions"],
    ) == (604, 50.33, 2)
    assert got["Billing_Disputes"][0]["Status"] == "lost"
    assert got["Billing_Payouts"][0]["Status"] == "paid"
    store.dispose()
