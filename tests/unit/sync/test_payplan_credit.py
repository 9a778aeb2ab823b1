"""Issue 10 fault 1: an invoice counts for its `total`, whatever paid it (card, the customer's
credit balance, or both); PRODUCT.md Billing_Payments and Pay plans. Every event goes
through the signed webhook endpoint and the worker."""

from __future__ import annotations

from typing import Any

import pytest

from connector.sync.inbox import DONE
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


def installment(invoice_id: str, at: int, *, total: int = 3000, credit: int = 0) -> dict[str, Any]:
    """One pay-plan invoice paid at `at`: `credit` minor units came from the balance."""
    due = total - credit
    inv = se.invoice(
        invoice_id,
        subscription_id="sub_P",
        sub_key="SUBKEY-B",
        plan_key="course",
        status="paid",
        amount_due=due,
        amount_paid=due,
        total=total,
        starting_balance=-credit,
        attempt_count=1 if due else 0,
        paid_at=at,
    )
    return se.event("invoice.paid", inv, at)


def payplan_ends_by_cancel(bridge: Bridge, credit: int) -> None:
    """Pay plan 100 at 30: 30, 30 (with `credit` from the balance), 30, 10; then the
    schedule ends by cancelling the subscription, as Stripe does."""
    canceled = se.subscription(
        "sub_P",
        status="canceled",
        amount=1000,
        sub_key="SUBKEY-B",
        plan_key="course",
        canceled_at=T + 95 * DAY,
    )
    bridge.stripe.subscriptions["sub_P"] = canceled
    bridge.post(
        installment("in_p1", T),
        installment("in_p2", T + 30 * DAY, credit=credit),
        installment("in_p3", T + 60 * DAY),
        installment("in_p4", T + 90 * DAY, total=1000),
        se.event("customer.subscription.deleted", canceled, T + 95 * DAY),
    )


@pytest.mark.parametrize("credit", [1000, 3000], ids=["partly-from-credit", "wholly-from-credit"])
def test_a_payplan_installment_paid_from_credit_counts_in_full(bridge: Bridge, credit: int) -> None:
    payplan_ends_by_cancel(bridge, credit)
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")
    assert row is not None
    assert (row["Status"], row["BalanceRemaining"], row["InstallmentsPaid"]) == (
        "completed",
        0,
        4,
    )
    assert row["AccessActive"] is False
    # the installment paid from credit is a payment row for its total, like any other
    payment = bridge.caspio.row("Billing_Payments", "in_p2")
    assert payment is not None
    assert (payment["Status"], payment["Amount"]) == ("succeeded", 30)
    assert all(e["status"] == DONE for e in bridge.inbox.list(limit=20)), bridge.inbox.list(
        limit=20
    )


def test_progress_after_an_installment_from_credit_counts_its_total(bridge: Bridge) -> None:
    bridge.post(installment("in_p1", T), installment("in_p2", T + 30 * DAY, credit=1000))
    row = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-B")
    assert row is not None
    assert (row["BalanceRemaining"], row["InstallmentsPaid"]) == (40, 2)


def test_a_renewal_paid_partly_from_credit_is_written_for_its_total(bridge: Bridge) -> None:
    inv = se.invoice(
        "in_c",
        status="paid",
        amount_due=1500,
        amount_paid=1500,
        total=2000,
        starting_balance=-500,
        attempt_count=1,
        paid_at=T,
    )
    bridge.post(se.event("invoice.paid", inv, T))
    payment = bridge.caspio.row("Billing_Payments", "in_c")
    assert payment is not None
    assert (payment["Status"], payment["Amount"]) == ("succeeded", 20)


def test_a_failed_invoice_with_credit_applied_is_written_for_its_total(bridge: Bridge) -> None:
    inv = se.invoice(
        "in_f",
        status="open",
        amount_due=1500,
        total=2000,
        starting_balance=-500,
        attempt_count=1,
        next_payment_attempt=T + 3 * DAY,
    )
    bridge.post(se.event("invoice.payment_failed", inv, T))
    payment = bridge.caspio.row("Billing_Payments", "in_f")
    assert payment is not None
    assert (payment["Status"], payment["Amount"]) == ("failed", 20)


def test_a_zero_total_invoice_still_gets_no_row(bridge: Bridge) -> None:
    # a free trial's opening invoice moves no money (PRODUCT.md Billing_Payments)
    inv = se.invoice("in_0", status="paid", amount_due=0, total=0, paid_at=T)
    bridge.post(se.event("invoice.paid", inv, T))
    assert bridge.caspio.row("Billing_Payments", "in_0") is None
    assert bridge.caspio.writes() == 0
