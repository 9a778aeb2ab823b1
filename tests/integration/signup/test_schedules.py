"""Intro periods, pay plans and free trials through sign-up, the clock advanced month by month."""

from __future__ import annotations

from decimal import Decimal

from .conftest import Bridge


def _money(value: object) -> Decimal:
    return Decimal(str(value))


def test_intro_15_for_two_months_then_25_charges_15_15_25(bridge: Bridge):
    bridge.plan("intro", "25.00", IntroAmount=Decimal("15.00"), IntroIntervals=2)
    key = bridge.register("CUST-I", "intro", Email="i@example.com")
    bridge.sign_up_and_pay(key)

    row = bridge.row(key)
    sub_id = row["StripeSubscriptionID"]
    assert row["Status"] == "active" and row["StripeScheduleID"]
    schedule = bridge.stripe.v1.subscription_schedules.retrieve(row["StripeScheduleID"])
    assert schedule.metadata["caspio_subscription_key"] == key
    assert schedule.end_behavior == "release"
    assert _money(row["MonthlyValue"]) == Decimal("15")  # the intro amount is charged now
    assert bridge.charged(sub_id) == [1500]

    bridge.advance_to_renewal(sub_id)
    assert bridge.charged(sub_id) == [1500, 1500]
    bridge.advance_to_renewal(sub_id)
    assert bridge.charged(sub_id) == [1500, 1500, 2500]
    row = bridge.row(key)
    assert row["Status"] == "active"
    assert _money(row["MonthlyValue"]) == Decimal("25")
    (customer,) = bridge.customer_rows("CUST-I")
    assert _money(customer["AvgMonthlyTotal"]) == Decimal("25")
    assert [_money(p["Amount"]) for p in bridge.payments(key)] == [15, 15, 25]


def test_instance_initial_amount_until_a_date_overrides_the_plan(bridge: Bridge):
    bridge.plan("plain", "30.00")
    now = bridge.stripe_emulator.now()
    import datetime as dt

    end = dt.datetime.fromtimestamp(now + 40 * 86400, tz=dt.timezone.utc).replace(tzinfo=None)
    key = bridge.register(
        "CUST-J", "plain", InitialAmount=Decimal("9.99"), InitialBillingEnd=end.isoformat()
    )
    bridge.sign_up_and_pay(key)
    sub_id = bridge.row(key)["StripeSubscriptionID"]
    # Day 0 and the first renewal begin before day 40; the renewal after it is the full price.
    bridge.advance_to_renewal(sub_id)
    bridge.advance_to_renewal(sub_id)
    assert bridge.charged(sub_id) == [999, 999, 3000]


def test_pay_plan_100_at_30_charges_30_30_30_10_then_completed(bridge: Bridge):
    bridge.plan("p30", "30.00", PlanType="payplan", Balance=Decimal("100.00"))
    key = bridge.register("CUST-P", "p30")
    bridge.sign_up_and_pay(key)
    row = bridge.row(key)
    sub_id = row["StripeSubscriptionID"]
    assert row["StripeScheduleID"]
    assert (_money(row["BalanceRemaining"]), row["InstallmentsPaid"]) == (Decimal("70"), 1)
    for _ in range(3):
        bridge.advance_to_renewal(sub_id)
    assert bridge.charged(sub_id) == [3000, 3000, 3000, 1000]
    bridge.advance_to_renewal(sub_id)  # the schedule ends by cancel: no fifth invoice
    assert bridge.charged(sub_id) == [3000, 3000, 3000, 1000]
    assert bridge.stripe.v1.subscriptions.retrieve(sub_id).status == "canceled"
    row = bridge.row(key)
    assert row["Status"] == "completed"
    assert (_money(row["BalanceRemaining"]), row["InstallmentsPaid"]) == (Decimal("0"), 4)
    assert row["AccessActive"] is False
    (customer,) = bridge.customer_rows("CUST-P")
    assert customer["ActiveSubscriptions"] == 0


def test_pay_plan_100_in_3_with_an_installment_partly_from_credit(bridge: Bridge):
    bridge.plan("p3", None, PlanType="payplan", Balance=Decimal("100.00"), Installments=3)
    key = bridge.register("CUST-Q", "p3")
    bridge.sign_up_and_pay(key)
    row = bridge.row(key)
    sub_id = row["StripeSubscriptionID"]
    # The customer gets a 10.00 credit (a refund as credit, a goodwill gesture...).
    bridge.stripe.v1.customers.update(row_customer(bridge, "CUST-Q"), {"balance": -1000})
    bridge.advance_to_renewal(sub_id)
    invoices = sorted(
        bridge.stripe.v1.invoices.list({"subscription": sub_id}).data, key=lambda i: i.created
    )
    assert [(i.total, i.amount_paid) for i in invoices] == [(3333, 3333), (3333, 2333)]
    row = bridge.row(key)
    assert (_money(row["BalanceRemaining"]), row["InstallmentsPaid"]) == (Decimal("33.34"), 2)
    bridge.advance_to_renewal(sub_id)
    assert [i.total for i in bridge.stripe.v1.invoices.list({"subscription": sub_id}).data] == [
        3334,
        3333,
        3333,
    ]
    bridge.advance_to_renewal(sub_id)
    row = bridge.row(key)
    assert row["Status"] == "completed"
    assert [_money(p["Amount"]) for p in bridge.payments(key)] == [
        Decimal("33.33"),
        Decimal("33.33"),
        Decimal("33.34"),
    ]
    assert bridge.stripe.v1.subscriptions.retrieve(sub_id).status == "canceled"


def row_customer(bridge: Bridge, customer_key: str) -> str:
    (row,) = bridge.customer_rows(customer_key)
    return str(row["StripeCustomerID"])


def test_free_trial_then_a_paid_period(bridge: Bridge):
    bridge.plan("trial", "20.00", IntroAmount=Decimal("0"), IntroIntervals=1)
    key = bridge.register("CUST-T", "trial")
    checkout = bridge.signup(key).headers["Location"]
    assert bridge.pay(checkout).status_code == 303
    bridge.settle()
    row = bridge.row(key)
    sub_id = row["StripeSubscriptionID"]
    assert row["Status"] == "trialing" and row["AccessActive"] is True
    assert row["StripeScheduleID"] in (None, "")  # a trial, not a $0 phase
    assert _money(row["MonthlyValue"]) == Decimal("0")
    assert bridge.payments(key) == []  # the $0 trial invoice moves no money
    bridge.advance_to_renewal(sub_id)
    row = bridge.row(key)
    assert row["Status"] == "active"
    assert _money(row["MonthlyValue"]) == Decimal("20")
    assert bridge.charged(sub_id) == [0, 2000]
    assert [_money(p["Amount"]) for p in bridge.payments(key)] == [Decimal("20")]
