from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.sync.totals import (
    CustomerTotals,
    SubscriptionValue,
    ValuePair,
    customer_totals,
    round_half_up,
    subscription_value,
)


def sub(amount, interval="month", count=1, currency="usd", status="active", sid="sub"):
    return SubscriptionValue(sid, status, amount, currency, interval, count)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        # daily 1.00: 365.00 a year, 30.4166… a month -> 30.42
        (sub(100, "day"), ValuePair(3042, 36500)),
        # every 3 days 1.00: 121.666… a year -> 121.67; 10.1388… a month -> 10.14
        (sub(100, "day", 3), ValuePair(1014, 12167)),
        # weekly 10.00: 520.00 a year, 43.333… a month
        (sub(1000, "week"), ValuePair(4333, 52000)),
        # every 2 weeks 10.00: 260.00 a year, 21.666… a month -> 21.67
        (sub(1000, "week", 2), ValuePair(2167, 26000)),
        # every 2 months 30.00: 180.00 a year, 15.00 a month
        (sub(3000, "month", 2), ValuePair(1500, 18000)),
        # yearly 100.00: 8.333… a month
        (sub(10000, "year"), ValuePair(833, 10000)),
        # every 3 years 100.00: 33.333… a year, 2.777… a month
        (sub(10000, "year", 3), ValuePair(278, 3333)),
        # JPY has no minor unit: 1000 yen monthly
        (sub(1000, "month", currency="jpy"), ValuePair(1000, 12000)),
    ],
)
def test_subscription_values_follow_the_product_formula(value, expected):
    assert subscription_value(value) == expected


@pytest.mark.parametrize(
    "status", ["canceled", "incomplete", "unpaid", "incomplete_expired", "completed", "paused"]
)
def test_subscriptions_that_do_not_count_are_worth_zero(status):
    assert subscription_value(sub(1000, status=status)) == ValuePair(0, 0)
    assert customer_totals([sub(1000, status=status)]) == CustomerTotals(None, 0, 0, 0)


def test_customer_sums_are_rounded_once_not_per_subscription():
    # three weekly subscriptions of 0.01: 0.5200 a year each, 0.04333… a month each.
    # Rounded per subscription: 3 x 0.04 = 0.12; rounded once: 0.13.
    subs = [sub(1, "week", sid=f"s{i}") for i in range(3)]
    totals = customer_totals(subs)
    assert totals.monthly_minor == 13
    assert totals.yearly_minor == 156
    assert sum(subscription_value(s).monthly_minor for s in subs) == 12


def test_mixed_intervals_and_statuses():
    subs = [
        sub(100, "day", sid="daily"),  # 365.00 / y
        sub(1000, "week", sid="weekly", status="trialing"),  # 520.00 / y
        sub(3000, "month", 2, sid="bimonthly", status="past_due"),  # 180.00 / y
        sub(10000, "year", sid="yearly"),  # 100.00 / y
        sub(99999, "month", sid="gone", status="canceled"),
    ]
    totals = customer_totals(subs)
    assert totals == CustomerTotals("usd", round_half_up(Fraction(116500, 12)), 116500, 4)
    assert totals.monthly_minor == 9708  # 97.0833…


def test_mixed_currencies_are_never_added():
    subs = [
        sub(1000, sid="a", currency="usd"),
        sub(2000, sid="b", currency="USD"),
        sub(500000, sid="c", currency="jpy"),
    ]
    totals = customer_totals(subs)
    # usd has the most subscriptions; the yen one is counted but not summed
    assert (totals.currency, totals.yearly_minor, totals.monthly_minor) == ("usd", 36000, 3000)
    assert totals.active_subscriptions == 3
    assert totals.left_out == ("jpy",)


def test_a_currency_tie_is_broken_by_code_whatever_the_order():
    a = [sub(1000, sid="a", currency="eur"), sub(1000, sid="b", currency="chf")]
    assert customer_totals(a).currency == "chf"
    assert customer_totals(list(reversed(a))).currency == "chf"


def test_half_up_rounding():
    assert round_half_up(Fraction(5, 2)) == 3
    assert round_half_up(Fraction(7, 2)) == 4
    assert round_half_up(Fraction(249, 100)) == 2
    assert round_half_up(Fraction(-5, 2)) == -3


def test_bad_intervals_are_rejected():
    with pytest.raises(ValueError, match="interval"):
        subscription_value(sub(100, "fortnight"))
    with pytest.raises(ValueError, match="at least 1"):
        subscription_value(sub(100, "month", 0))


@given(
    st.lists(
        st.tuples(
            st.integers(0, 10**7),
            st.sampled_from(["day", "week", "month", "year"]),
            st.integers(1, 36),
        ),
        max_size=6,
    )
)
def test_totals_do_not_depend_on_order_and_stay_close_to_the_parts(parts):
    subs = [sub(a, i, c, sid=f"s{n}") for n, (a, i, c) in enumerate(parts)]
    forward, backward = customer_totals(subs), customer_totals(list(reversed(subs)))
    assert forward == backward
    per_sub = sum(subscription_value(s).yearly_minor for s in subs)
    assert abs(forward.yearly_minor - per_sub) <= len(subs) / 2 + 1
