"""Handlers end to end through the real inbox, worker and store, over counting fakes."""

import pytest

from connector.sync.inbox import DEAD, DONE, IGNORED, PENDING
from tests.fixtures import stripe_events as se
from tests.unit.sync.fakes import FakeRetryLinks
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
USD = {"currency": "usd"}  # Stripe always sends it; the shared builders leave it None
DECLINE = {
    "code": "card_declined",
    "decline_code": "insufficient_funds",
    "message": "Your card has insufficient funds.",
    "charge": "ch_2",
}


@pytest.fixture
def bridge(store):
    b = Bridge(store, retry_links=FakeRetryLinks())
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    b.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 30 * 86400)
    b.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    b.stripe.payments["in_2"] = [se.invoice_payment("in_2", "pi_2", "ch_2", error=DECLINE)]
    return b


def paid_invoice(invoice_id, at, **kw):
    return se.invoice(
        invoice_id, status="paid", amount_paid=2000, attempt_count=1, paid_at=at, **kw
    )


def test_invoice_paid_inserts_the_payment_row(bridge):
    bridge.deliver(
        se.event("invoice.paid", paid_invoice("in_1", T, billing_reason="subscription_create"), T)
    )
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert {k: v for k, v in row.items() if k != "UpdatedAt"} == {
        "InvoiceID": "in_1",
        "SubscriptionKey": "SUBKEY-A",
        "CustomerKey": "CUST-A",
        "StripeSubscriptionID": "sub_A",
        "PaymentIntentID": "pi_1",
        "ChargeID": "ch_1",
        "Amount": 20,
        "Currency": "usd",
        "Status": "succeeded",
        "BillingReason": "subscription_create",
        "AttemptCount": 1,
        "NextAttemptAt": None,
        "HostedInvoiceURL": "https://invoice.stripe.com/i/in_1",
        "PaidAt": "2027-01-15T08:00:00",
    }
    assert row["UpdatedAt"] == "2030-03-17T17:46:40"
    # one insert, no read first; the plan is read once to know whether it is a pay plan
    assert [(m, t) for m, t, _ in bridge.caspio.calls] == [
        ("POST", "Billing_Payments"),
        ("GET", "Billing_Plans"),
    ]
    bridge.deliver(se.event("invoice.paid", paid_invoice("in_2", T + 9), T + 9))
    assert [(m, t) for m, t, _ in bridge.caspio.calls][2:] == [("POST", "Billing_Payments")]


def renewal_events(invoice_id, start):
    """Every event of one renewal paid in full, as Stripe sends them."""
    draft = se.invoice(invoice_id, status="draft", attempt_count=0)
    opened = se.invoice(
        invoice_id, status="open", attempt_count=0, next_payment_attempt=start + 3600
    )
    paid = paid_invoice(invoice_id, start + 3600)
    charge = se.charge("ch_r", intent_id="pi_r")
    intent = se.recorded("payment_intent") | {"id": "pi_r", "status": "succeeded"}
    sub = se.subscription("sub_A", period_end=start + 60 * 86400)
    return [
        se.event("invoice.created", draft, start),
        se.event("invoice.finalized", opened, start + 3600),
        se.event("payment_intent.created", intent, start + 3600),
        se.event("charge.succeeded", charge, start + 3601),
        se.event("payment_intent.succeeded", intent, start + 3601),
        se.event("invoice.paid", paid, start + 3601),
        se.event("invoice.payment_succeeded", paid, start + 3601),
        se.event("customer.subscription.updated", sub, start + 3601),
    ]


def test_a_renewal_paid_in_full_costs_at_most_two_caspio_calls(bridge):
    # the subscription's first period, already synced
    bridge.deliver(
        se.event("customer.subscription.created", bridge.stripe.subscriptions["sub_A"], T)
    )
    bridge.deliver(se.event("invoice.paid", paid_invoice("in_1", T), T))
    bridge.caspio.calls.clear()
    bridge.caspio.meter.reset()
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 60 * 86400)
    bridge.stripe.payments["in_r"] = [se.invoice_payment("in_r", "pi_r", "ch_r")]

    bridge.deliver(*renewal_events("in_r", T + 30 * 86400))

    assert bridge.caspio.meter.total() <= 2
    assert [(m, t) for m, t, _ in bridge.caspio.calls] == [
        ("POST", "Billing_Payments"),
        ("PUT", "Billing_Subscriptions"),
    ]
    # the subscription update carried only what changed
    assert set(bridge.caspio.calls[1][2]) == {"CurrentPeriodEnd", "UpdatedAt"}
    assert bridge.caspio.row("Billing_Payments", "in_r")["Status"] == "succeeded"
    assert (
        bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")["CurrentPeriodEnd"]
        == "2027-03-16T08:00:00"
    )


def test_a_delivery_repeated_later_writes_nothing(bridge):
    events = renewal_events("in_1", T)
    bridge.deliver(*events)
    before = bridge.caspio.meter.total()
    for event in events:
        event["id"] += "_resent"  # Stripe may send the same facts under a new event too
    bridge.deliver(*events)
    assert bridge.caspio.meter.total() == before


def test_payment_failed_writes_the_decline_and_a_retry_link(bridge):
    failing = se.invoice("in_2", status="open", attempt_count=1, next_payment_attempt=T + 3 * 86400)
    bridge.deliver(se.event("invoice.payment_failed", failing, T))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert row["Status"] == "failed"
    assert row["FailureCode"] == "insufficient_funds"
    assert row["FailureMessage"] == "Your card has insufficient funds."
    assert row["AttemptCount"] == 1
    assert row["NextAttemptAt"] == "2027-01-18T08:00:00"
    assert row["FailedAt"] == "2027-01-15T08:00:00"
    assert row["HostedInvoiceURL"] == "https://invoice.stripe.com/i/in_2"
    assert row["RetryURL"] == "http://127.0.0.1:8000/payments/in_2/retry?token=t1"
    assert row["RetryStatus"] == "available"
    assert (row["PaymentIntentID"], row["ChargeID"]) == ("pi_2", "ch_2")
    assert bridge.stripe.calls["invoice_payments.list"] == 1

    # the automatic retry fails again: a fresh link, the new count and time
    again = se.invoice("in_2", status="open", attempt_count=2, next_payment_attempt=None)
    bridge.deliver(se.event("invoice.payment_failed", again, T + 3 * 86400))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert (row["AttemptCount"], row["NextAttemptAt"]) == (2, None)
    assert row["RetryURL"].endswith("token=t2")


def test_a_late_failure_never_overwrites_success(bridge):
    bridge.deliver(se.event("invoice.paid", paid_invoice("in_2", T + 100), T + 100))
    bridge.deliver(
        se.event(
            "invoice.payment_failed",
            se.invoice("in_2", attempt_count=1, next_payment_attempt=T + 999),
            T,
        )
    )
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert row["Status"] == "succeeded"
    assert row["NextAttemptAt"] is None
    assert "RetryURL" not in row
    # the failure is still history
    assert row["FailureCode"] == "insufficient_funds"


def test_automatic_invoices_write_nothing_until_an_outcome(bridge):
    bridge.deliver(
        se.event("invoice.created", se.invoice("in_1", status="draft"), T),
        se.event("invoice.finalized", se.invoice("in_1", status="open"), T + 1),
    )
    assert bridge.caspio.calls == []
    assert bridge.status(bridge.inbox.list()[0]["event_id"]) == DONE


def test_a_zero_amount_invoice_gets_no_payment_row(bridge):
    free = se.invoice(
        "in_0", status="paid", amount_due=0, amount_paid=0, billing_reason="subscription_create"
    )
    bridge.deliver(se.event("invoice.created", free, T), se.event("invoice.paid", free, T))
    assert bridge.caspio.tables["Billing_Payments"] == []


def test_a_manual_invoice_gets_an_open_row_then_void(bridge):
    manual = se.invoice(
        "in_3", status="open", collection_method="send_invoice", subscription_id=None
    )
    bridge.deliver(se.event("invoice.created", manual | {"status": "draft"}, T))
    assert bridge.caspio.calls == []
    bridge.deliver(se.event("invoice.finalized", manual, T))
    assert bridge.caspio.row("Billing_Payments", "in_3")["Status"] == "open"
    bridge.deliver(se.event("invoice.voided", manual | {"status": "void"}, T + 5))
    assert bridge.caspio.row("Billing_Payments", "in_3")["Status"] == "void"
    bridge.deliver(
        se.event("invoice.paid", manual | {"status": "paid", "amount_paid": 2000}, T + 6)
    )
    assert bridge.caspio.row("Billing_Payments", "in_3")["Status"] == "void"


def test_subscription_events_refetch_and_write_status_access_and_totals(bridge):
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", status="past_due", period_end=T)
    stale_payload = se.subscription("sub_A", status="active")
    bridge.deliver(se.event("customer.subscription.updated", stale_payload, T))
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert row["Status"] == "past_due"  # from Stripe, not the stale payload
    assert row["AccessActive"] is True
    assert row["StripeSubscriptionID"] == "sub_A"
    assert row["CurrentPeriodEnd"] == "2027-01-15T08:00:00"
    assert (row["MonthlyValue"], row["YearlyValue"]) == (20, 240)
    assert bridge.stripe.calls["subscriptions.retrieve"] == 1
    customer = bridge.caspio.row("Billing_Customers", "CUST-A")
    assert (
        customer["AvgMonthlyTotal"],
        customer["AvgYearlyTotal"],
        customer["TotalsCurrency"],
        customer["ActiveSubscriptions"],
    ) == (20, 240, "usd", 1)

    bridge.stripe.subscriptions["sub_A"] = se.subscription(
        "sub_A", status="canceled", period_end=T, canceled_at=T + 50
    )
    bridge.deliver(
        se.event("customer.subscription.deleted", bridge.stripe.subscriptions["sub_A"], T + 50)
    )
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert (row["Status"], row["AccessActive"], row["CanceledAt"]) == (
        "canceled",
        False,
        "2027-01-15T08:00:50",
    )
    assert (row["MonthlyValue"], row["YearlyValue"]) == (0, 0)
    customer = bridge.caspio.row("Billing_Customers", "CUST-A")
    assert (customer["AvgMonthlyTotal"], customer["ActiveSubscriptions"]) == (0, 0)


def test_past_due_access_can_be_switched_off(store):
    b = Bridge(store, past_due_access=False)
    seed_caspio(b.caspio)
    b.stripe.subscriptions["sub_A"] = se.subscription(
        "sub_A", status="past_due", customer_key="CUST-A"
    )
    b.deliver(se.event("customer.subscription.updated", b.stripe.subscriptions["sub_A"], T))
    assert b.caspio.row("Billing_Subscriptions", "SUBKEY-A")["AccessActive"] is False


def test_totals_are_rewritten_only_when_a_value_changes(bridge):
    bridge.deliver(
        se.event("customer.subscription.created", bridge.stripe.subscriptions["sub_A"], T)
    )

    def writes_to_customers():
        return sum(1 for _m, t, _ in bridge.caspio.calls if t == "Billing_Customers")

    assert writes_to_customers() == 1
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 86400 * 60)
    bridge.deliver(
        se.event("customer.subscription.updated", bridge.stripe.subscriptions["sub_A"], T + 1)
    )
    assert writes_to_customers() == 1
    bridge.stripe.subscriptions["sub_A"] = se.subscription(
        "sub_A", amount=2500, period_end=T + 86400 * 60
    )
    bridge.deliver(
        se.event("customer.subscription.updated", bridge.stripe.subscriptions["sub_A"], T + 2)
    )
    assert writes_to_customers() == 2
    assert bridge.caspio.row("Billing_Customers", "CUST-A")["AvgMonthlyTotal"] == 25


def test_a_subscription_without_a_caspio_key_is_ignored(bridge):
    foreign = se.subscription("sub_X", sub_key=None)
    bridge.stripe.subscriptions["sub_X"] = foreign
    event = se.event("customer.subscription.created", foreign, T)
    bridge.deliver(event)
    assert bridge.status(event["id"]) == IGNORED
    assert bridge.caspio.calls == []


def test_checkout_completed_links_the_row_through_client_reference_id(bridge):
    keyless = se.subscription("sub_C", sub_key=None)
    bridge.stripe.subscriptions["sub_C"] = keyless
    bridge.deliver(
        se.event(
            "checkout.session.completed",
            se.checkout_session("cs_1", subscription_id="sub_C", sub_key="SUBKEY-A"),
            T,
        )
    )
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert (row["StripeSubscriptionID"], row["Status"], row["AccessActive"]) == (
        "sub_C",
        "active",
        True,
    )
    # later events of that subscription find the row without metadata and without a lookup
    bridge.caspio.calls.clear()
    bridge.stripe.subscriptions["sub_C"] = se.subscription("sub_C", sub_key=None, status="past_due")
    bridge.deliver(se.event("customer.subscription.updated", keyless, T + 5))
    assert bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")["Status"] == "past_due"
    assert all(m == "PUT" for m, _t, _b in bridge.caspio.calls)


def test_refunds_move_the_payment_forward_only(bridge):
    bridge.deliver(se.event("invoice.paid", paid_invoice("in_1", T), T))
    bridge.deliver(
        se.event("charge.refunded", se.charge("ch_1", intent_id="pi_1", refunded=500), T + 10)
    )
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert (row["Status"], row["RefundedAmount"]) == ("partially_refunded", 5)
    bridge.deliver(
        se.event("charge.refunded", se.charge("ch_1", intent_id="pi_1", refunded=2000), T + 20)
    )
    bridge.deliver(
        se.event(
            "charge.refunded",
            se.charge("ch_1", intent_id="pi_1", refunded=500),
            T + 10,
            "evt_late_partial",
        )
    )
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert (row["Status"], row["RefundedAmount"]) == ("refunded", 20)
    # charge -> invoice came from the paid invoice's payments: no extra Stripe lookup
    assert bridge.stripe.calls["invoice_payments.list"] == 1


def test_a_refund_of_a_charge_without_invoice_is_ignored(bridge):
    event = se.event("charge.refunded", se.charge("ch_z", intent_id="pi_z", refunded=100), T)
    bridge.deliver(event)
    assert bridge.status(event["id"]) == IGNORED
    assert bridge.caspio.calls == []


def test_disputes_write_their_row_and_mark_the_payment(bridge):
    bridge.deliver(se.event("invoice.paid", paid_invoice("in_1", T), T))
    opened = se.dispute("dp_1", charge_id="ch_1", intent_id="pi_1") | USD
    won = se.dispute("dp_1", charge_id="ch_1", intent_id="pi_1", status="won") | USD
    bridge.deliver(
        se.event("charge.dispute.closed", won, T + 20),
        se.event("charge.dispute.created", opened, T + 10),
    )
    row = bridge.caspio.row("Billing_Disputes", "dp_1")
    assert (row["Status"], row["InvoiceID"], row["ChargeID"], row["Amount"], row["Reason"]) == (
        "won",
        "in_1",
        "ch_1",
        20,
        "general",
    )
    assert row["EvidenceDueBy"] == "2024-08-14T23:59:59"
    # the dispute was won: the payment keeps the status it had (PRODUCT.md)
    assert bridge.caspio.row("Billing_Payments", "in_1")["Status"] == "succeeded"


def test_payouts_keep_their_latest_status(bridge):
    bridge.deliver(
        se.event("payout.paid", se.payout("po_1", status="paid") | USD, T + 5),
        se.event("payout.created", se.payout("po_1", status="pending") | USD, T),
        se.event("payout.updated", se.payout("po_1", status="in_transit") | USD, T + 5),
    )
    row = bridge.caspio.row("Billing_Payouts", "po_1")
    assert (row["Status"], row["Amount"], row["Currency"]) == ("paid", 50, "usd")
    assert len(bridge.caspio.tables["Billing_Payouts"]) == 1


def test_a_pay_plan_counts_installments_then_completes(bridge):
    sub = se.subscription("sub_P", sub_key="SUBKEY-B", plan_key="course", amount=3000)
    bridge.stripe.subscriptions["sub_P"] = sub
    bridge.deliver(se.event("customer.subscription.created", sub, T))
    for n, amount in enumerate([3000, 3000, 3000, 1000], start=1):
        inv = se.invoice(
            f"in_p{n}",
            subscription_id="sub_P",
            sub_key="SUBKEY-B",
            plan_key="course",
            status="paid",
            amount_due=amount,
            amount_paid=amount,
            paid_at=T + n,
        )
        bridge.deliver(se.event("invoice.paid", inv, T + n))
        row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")
        assert row["InstallmentsPaid"] == n
    assert row["BalanceRemaining"] == 0
    assert (row["Status"], row["AccessActive"]) == ("completed", False)
    # Stripe ends the schedule with a cancel; the row stays completed, never canceled
    bridge.stripe.subscriptions["sub_P"] = sub | {"status": "canceled", "canceled_at": T + 99}
    bridge.deliver(
        se.event("customer.subscription.deleted", bridge.stripe.subscriptions["sub_P"], T + 99)
    )
    assert bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")["Status"] == "completed"
    # the plan was read from Caspio once, then cached
    assert sum(1 for m, t, _ in bridge.caspio.calls if t == "Billing_Plans") == 1


def test_no_event_is_lost_while_caspio_fails_every_write(bridge):
    bridge.caspio.failing_writes = 10**9
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 60 * 86400)
    events = renewal_events("in_1", T)
    bridge.deliver(*events)
    waiting = [e["event_id"] for e in bridge.inbox.list(status=PENDING)]
    assert "evt" in waiting[0] and bridge.caspio.tables["Billing_Payments"] == []
    for _ in range(5):  # an outage of five retry rounds
        bridge.clock.now += 61
        bridge.worker.run_until_idle()
    bridge.caspio.failing_writes = 0
    for _ in range(5):
        bridge.clock.now += 61
        bridge.worker.run_until_idle()
    assert bridge.inbox.list(status=PENDING) == []
    assert bridge.inbox.list(status=DEAD) == []
    assert bridge.caspio.row("Billing_Payments", "in_1")["Status"] == "succeeded"
    assert (
        bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")["CurrentPeriodEnd"]
        == "2027-03-16T08:00:00"
    )


def test_an_event_for_a_missing_caspio_row_goes_dead_with_its_reason(store):
    b = Bridge(store, max_attempts=2)
    b.stripe.subscriptions["sub_A"] = se.subscription("sub_A", customer_key="CUST-A")
    event = se.event("customer.subscription.updated", b.stripe.subscriptions["sub_A"], T)
    b.deliver(event)
    b.clock.now += 61
    b.worker.run_until_idle()
    row = b.inbox.get(event["id"])
    assert row["status"] == DEAD
    assert "Billing_Subscriptions has no row with SubscriptionKey = 'SUBKEY-A'" in row["last_error"]
