"""Installment and phase maths: every PRODUCT.md example, currencies, intros, edges."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from connector.billing.money import from_minor
from connector.billing.plans import Plan
from connector.billing.schedules import (
    BillingPlan,
    Phase,
    ScheduleError,
    add_periods,
    billing_plan,
    charges_before,
    group_phases,
    installments,
)

JAN_31 = int(dt.datetime(2027, 1, 31, 12, tzinfo=dt.timezone.utc).timestamp())
START = int(dt.datetime(2027, 3, 1, tzinfo=dt.timezone.utc).timestamp())


def _utc(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp())


# ---------------------------------------------------------------- installments


@pytest.mark.parametrize(
    "balance, amount, count, expected",
    [
        (10000, 3000, None, [3000, 3000, 3000, 1000]),  # 100 at 30
        (10000, None, 3, [3333, 3333, 3334]),  # 100 in 3
        (9000, 3000, None, [3000, 3000, 3000]),  # no remainder, no empty last one
        (10000, 3000, 7, [3000, 3000, 3000, 1000]),  # both given: Amount wins
        (10000, 20000, None, [10000]),  # one installment larger than the balance
        (100, None, 100, [1] * 100),  # one cent each
        (101, None, 2, [50, 51]),
        (1, None, 1, [1]),
        (10000, None, 1, [10000]),
    ],
)
def test_installments(balance, amount, count, expected):
    result = installments(balance, amount, count)
    assert result == expected
    assert sum(result) == balance
    assert all(x > 0 for x in result)


@pytest.mark.parametrize(
    "balance, amount, count, message",
    [
        (0, 3000, None, "Balance above 0"),
        (-5, 3000, None, "Balance above 0"),
        (10000, 0, None, "Amount must be above 0"),
        (10000, None, None, "Amount or a number of Installments"),
        (10000, None, 0, "Amount or a number of Installments"),
        (5, None, 6, "cannot make 6 installments"),
    ],
)
def test_installments_refuse_impossible_plans(balance, amount, count, message):
    with pytest.raises(ScheduleError, match=message):
        installments(balance, amount, count)


@pytest.mark.parametrize("balance", range(1, 400, 7))
@pytest.mark.parametrize("count", [1, 2, 3, 7, 12])
def test_equal_installments_always_add_up_and_differ_by_the_remainder_only(balance, count):
    if count > balance:
        return
    result = installments(balance, None, count)
    assert len(result) == count and sum(result) == balance
    assert len(set(result[:-1])) <= 1 and result[-1] >= result[0]
    assert result[-1] - result[0] < count


def test_group_phases():
    assert group_phases([3000, 3000, 3000, 1000]) == (Phase(3000, 3), Phase(1000, 1))
    assert group_phases([3333, 3333, 3334]) == (Phase(3333, 2), Phase(3334, 1))
    assert group_phases([500]) == (Phase(500, 1),)
    assert group_phases([]) == ()


# ---------------------------------------------------------------- calendar


def test_add_periods_months_are_anchored_and_clamped():
    assert add_periods(JAN_31, "month", 1, 1) == _utc(2027, 2, 28, 12)
    assert add_periods(JAN_31, "month", 1, 2) == _utc(2027, 3, 31, 12)  # from the anchor
    assert add_periods(JAN_31, "month", 3, 1) == _utc(2027, 4, 30, 12)
    assert add_periods(_utc(2028, 2, 29), "year", 1, 1) == _utc(2029, 2, 28)
    assert add_periods(START, "week", 2, 3) == START + 42 * 86400
    assert add_periods(START, "day", 10, 2) == START + 20 * 86400
    assert add_periods(START, "month", 1, 0) == START
    with pytest.raises(ScheduleError, match="fortnight"):
        add_periods(START, "fortnight", 1, 1)


def test_charges_before_an_intro_end():
    two_months = add_periods(START, "month", 1, 2)
    assert charges_before(START, two_months, "month", 1) == 2  # ends on a renewal date
    assert charges_before(START, two_months + 1, "month", 1) == 3  # one second later
    mid = START + 45 * 86400  # mid-April: March and April start before it
    assert charges_before(START, mid, "month", 1) == 2
    assert charges_before(START, START + 1, "month", 1) == 1


# ---------------------------------------------------------------- plans


def _plan(**fields) -> Plan:
    base = {"plan_key": "gold", "billing_interval": "month", "amount": Decimal("25.00")}
    base.update(fields)
    return Plan(**base)


def test_plain_plan_is_one_open_phase_and_needs_no_schedule():
    result = billing_plan(_plan(), start=START)
    assert result == BillingPlan("usd", "month", 1, (Phase(2500),))
    assert not result.needs_schedule
    assert result.first_amount_minor == 2500
    assert result.total_minor is None


def test_plan_intro_two_months_at_15_then_25():
    result = billing_plan(
        _plan(intro_amount=Decimal("15.00"), intro_intervals=2), start=START
    )
    assert result.phases == (Phase(1500, periods=2), Phase(2500))
    assert result.end_behavior == "release" and result.needs_schedule
    assert result.first_amount_minor == 1500 and result.trial_end is None


def test_free_plan_intro_is_a_trial_not_a_zero_phase():
    result = billing_plan(
        _plan(intro_amount=Decimal("0"), intro_intervals=1, billing_interval="week"), start=START
    )
    assert result.phases == (Phase(2500),)
    assert (result.trial_days, result.trial_end) == (7, None)
    assert not result.needs_schedule


def test_free_monthly_intro_counts_the_days_of_the_calendar_months():
    plan = _plan(intro_amount=Decimal("0"), intro_intervals=2)
    assert billing_plan(plan, start=JAN_31).trial_days == 28 + 31  # to Mar 31
    assert billing_plan(plan, start=START).trial_days == 31 + 30  # Mar 1 to May 1


def test_instance_initial_period_overrides_plan_intro_and_may_end_mid_period():
    end = dt.datetime(2027, 4, 15, tzinfo=dt.timezone.utc)
    result = billing_plan(
        _plan(intro_amount=Decimal("15.00"), intro_intervals=2),
        start=START,
        initial_amount=Decimal("9.99"),
        initial_billing_end=end,
    )
    assert result.phases == (Phase(999, end_date=int(end.timestamp())), Phase(2500))
    # March 1 and April 1 are charged 9.99; the May 1 renewal is the first at 25.00.
    assert charges_before(START, int(end.timestamp()), "month", 1) == 2


def test_instance_free_initial_period_is_a_trial_until_the_date():
    end = dt.datetime(2027, 3, 20)  # Caspio dates have no zone: UTC
    result = billing_plan(
        _plan(), start=START, initial_amount=Decimal("0.00"), initial_billing_end=end
    )
    assert result.trial_end == _utc(2027, 3, 20)
    assert result.phases == (Phase(2500),)


def test_initial_period_already_over_means_plan_amount_from_the_start():
    past = dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc)
    result = billing_plan(
        _plan(), start=START, initial_amount=Decimal("5"), initial_billing_end=past
    )
    assert result.phases == (Phase(2500),) and result.trial_end is None


def test_initial_amount_without_end_is_an_error():
    with pytest.raises(ScheduleError, match="together"):
        billing_plan(_plan(), start=START, initial_amount=Decimal("5"))


def test_pay_plan_100_at_30():
    plan = _plan(plan_type="payplan", balance=Decimal("100"), amount=Decimal("30"))
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3000, 3), Phase(1000, 1))
    assert result.end_behavior == "cancel" and result.needs_schedule
    assert result.total_minor == 10000


def test_pay_plan_100_in_3():
    plan = _plan(plan_type="payplan", balance=Decimal("100.00"), amount=None, installments=3)
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3333, 2), Phase(3334, 1))
    assert [str(from_minor(p.amount_minor, "usd")) for p in result.phases] == ["33.33", "33.34"]
    assert result.total_minor == 10000


def test_single_installment_still_ends_by_cancel():
    plan = _plan(plan_type="payplan", balance=Decimal("30"), amount=Decimal("30"))
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3000, 1),) and result.needs_schedule


def test_pay_plan_in_jpy_has_no_minor_unit():
    plan = _plan(
        plan_type="payplan", currency="jpy", balance=Decimal("10000"), amount=None, installments=3
    )
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3333, 2), Phase(3334, 1))
    assert [from_minor(p.amount_minor, "jpy") for p in result.phases] == [
        Decimal(3333),
        Decimal(3334),
    ]


def test_pay_plan_in_kwd_has_three_decimals():
    plan = _plan(
        plan_type="payplan", currency="kwd", balance=Decimal("10.000"), amount=Decimal("3.000")
    )
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3000, 3), Phase(1000, 1))
    assert from_minor(1000, "kwd") == Decimal("1.000")


def test_kwd_equal_installments_stay_chargeable():
    # 10.000 KWD in 3: 3.333 would be 3333 fils, which Stripe refuses (the last digit must
    # be 0), so the installments move in steps of 10 fils and the last takes the rest.
    plan = _plan(
        plan_type="payplan", currency="kwd", balance=Decimal("10.000"), amount=None, installments=3
    )
    result = billing_plan(plan, start=START)
    assert result.phases == (Phase(3330, 2), Phase(3340, 1))
    assert installments(10000, None, 3, step=10) == [3330, 3330, 3340]
    with pytest.raises(ScheduleError, match="cannot make 2 installments"):
        installments(10, None, 2, step=10)


def test_jpy_intro_with_decimals_is_refused_with_the_field_named():
    plan = _plan(
        currency="jpy", amount=Decimal("2500"), intro_amount=Decimal("10.5"), intro_intervals=1
    )
    with pytest.raises(ScheduleError, match="IntroAmount"):
        billing_plan(plan, start=START)


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"plan_type": "payplan", "balance": None, "amount": Decimal("3")}, "Balance"),
        ({"amount": None}, "needs an Amount"),
        (
            {"plan_type": "payplan", "balance": Decimal("9"), "intro_amount": Decimal("1")},
            "IntroAmount",
        ),
    ],
)
def test_plans_that_cannot_be_laid_out(fields, message):
    with pytest.raises(ScheduleError, match=message):
        billing_plan(_plan(**fields), start=START)


def test_pay_plan_refuses_an_initial_period():
    plan = _plan(plan_type="payplan", balance=Decimal("100"), amount=Decimal("30"))
    with pytest.raises(ScheduleError, match="pay plan"):
        billing_plan(
            plan,
            start=START,
            initial_amount=Decimal("1"),
            initial_billing_end=dt.datetime(2027, 5, 1),
        )
