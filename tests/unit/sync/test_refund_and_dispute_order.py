"""A refund or dispute reaches its payment row (and a pay plan's progress) the same way,
whether it is applied before or after invoice.paid, before or after each other, or while
invoice.paid waits for a retry."""

import pytest

from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import customer_a_bridge

T = 1_800_000_000
USD = {"currency": "usd"}  # Stripe always sends it; the shared builders leave it None


@pytest.fixture
def bridge(store):
    return customer_a_bridge(store, now=T, max_attempts=2)


def installment(n, amount):
    return se.invoice(
        f"in_p{n}",
        subscription_id="sub_P",
        sub_key="SUBKEY-B",
        plan_key="course",
        status="paid",
        amount_due=amount,
        amount_paid=amount,
        paid_at=T + n,
    )


def start_pay_plan(bridge):
    sub = se.subscription("sub_P", sub_key="SUBKEY-B", plan_key="course", amount=3000)
    bridge.stripe.subscriptions["sub_P"] = sub
    bridge.stripe.payments["in_p4"] = [se.invoice_payment("in_p4", "pi_p4", "ch_p4")]
    bridge.deliver(se.event("customer.subscription.created", sub, T))
    for n in (1, 2, 3):
        bridge.deliver(se.event("invoice.paid", installment(n, 3000), T + n))


def test_a_pay_plan_installment_refunded_before_its_invoice_paid_is_still_counted(bridge):
    # charge.refunded and invoice.paid are different Stripe objects, so the inbox does not
    # order them: the refund may be applied first (or while invoice.paid waits for a retry).
    start_pay_plan(bridge)
    refund = se.charge("ch_p4", intent_id="pi_p4", amount=1000, refunded=100)
    bridge.deliver(se.event("charge.refunded", refund, T + 50))
    bridge.deliver(se.event("invoice.paid", installment(4, 1000), T + 4))
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")
    assert (row["BalanceRemaining"], row["InstallmentsPaid"]) == (0, 4)
    assert (row["Status"], row["AccessActive"]) == ("completed", False)
    assert bridge.caspio.row("Billing_Payments", "in_p4")["Status"] == "partially_refunded"


def test_a_pay_plan_progress_write_retried_after_a_refund_still_lands(bridge):
    start_pay_plan(bridge)
    # invoice.paid writes its payment row, then Caspio fails the subscription update
    paid = se.event("invoice.paid", installment(4, 1000), T + 4)
    bridge.receive(paid)
    original_update = bridge.caspio.update

    def failing_subscription_update(table, where, values):
        if table == "Billing_Subscriptions":
            bridge.caspio.failing_writes = 1
        return original_update(table, where, values)

    bridge.caspio.update = failing_subscription_update
    bridge.worker.run_until_idle()
    bridge.caspio.update = original_update
    assert bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")["InstallmentsPaid"] == 3
    # the refund is applied while invoice.paid waits for its retry
    refund = se.charge("ch_p4", intent_id="pi_p4", amount=1000, refunded=100)
    bridge.deliver(se.event("charge.refunded", refund, T + 50))
    bridge.clock.now += 61
    bridge.worker.run_until_idle()
    assert bridge.status(paid["id"]) == "done"
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")
    assert (row["Status"], row["InstallmentsPaid"], row["BalanceRemaining"]) == ("completed", 4, 0)


@pytest.mark.parametrize("reverse", [False, True])
def test_a_refund_and_a_later_dispute_end_the_same_whatever_the_order(bridge, reverse):
    bridge.deliver(
        se.event(
            "invoice.paid",
            se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T),
            T,
        )
    )
    refund = se.event("charge.refunded", se.charge("ch_1", intent_id="pi_1", refunded=2000), T + 20)
    dispute = se.event(
        "charge.dispute.created",
        se.dispute("dp_1", charge_id="ch_1", intent_id="pi_1") | USD,
        T + 30,
    )
    bridge.deliver(*([dispute, refund] if reverse else [refund, dispute]))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    # same rank: the later event (the dispute) wins, as in Stripe's order
    assert (row["Status"], row["RefundedAmount"]) == ("disputed", 20)
