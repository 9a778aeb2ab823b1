"""Subscription and customer totals (pure): the PRODUCT.md formula, in exact fractions.

yearly value = current charge x periods per year (day 365/count, week 52/count, month
12/count, year 1/count); monthly = yearly / 12. Only `active`, `trialing` and `past_due`
subscriptions count. Customer sums are taken over the exact values and rounded once, half up,
to the currency's minor unit; all results here are integer minor units.

Currencies are never added. A customer paying in more than one currency (rare: Stripe ties a
customer's recurring billing to one currency) gets totals in the currency of most of its
counted subscriptions, ties broken by currency code, so the result is stable; the other
currencies are reported in `CustomerTotals.left_out` for a log line. `ActiveSubscriptions`
counts every counted subscription whatever its currency.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

COUNTED_STATUSES = frozenset({"active", "trialing", "past_due"})
PERIODS_PER_YEAR = {
    "day": Fraction(365),
    "week": Fraction(52),
    "month": Fraction(12),
    "year": Fraction(1),
}


@dataclass(frozen=True)
class SubscriptionValue:
    """The bridge's record of one subscription, as far as totals care."""

    subscription_id: str
    status: str
    amount_minor: int  # current charge per period, minor units
    currency: str
    interval: str
    interval_count: int

    @property
    def counted(self) -> bool:
        return self.status in COUNTED_STATUSES


@dataclass(frozen=True)
class ValuePair:
    monthly_minor: int
    yearly_minor: int


@dataclass(frozen=True)
class CustomerTotals:
    currency: str | None  # None when nothing counts
    monthly_minor: int
    yearly_minor: int
    active_subscriptions: int
    left_out: tuple[str, ...] = ()  # currencies not in the totals


def round_half_up(value: Fraction) -> int:
    """Nearest integer, halves away from zero (amounts are never negative here)."""
    sign = -1 if value < 0 else 1
    magnitude = abs(value)
    return sign * int((magnitude + Fraction(1, 2)) // 1)


def exact_yearly_minor(value: SubscriptionValue) -> Fraction:
    if value.interval not in PERIODS_PER_YEAR:
        raise ValueError(f"unknown billing interval: {value.interval!r}")
    if value.interval_count < 1:
        raise ValueError(f"interval count must be at least 1: {value.interval_count}")
    return value.amount_minor * PERIODS_PER_YEAR[value.interval] / value.interval_count


def subscription_value(value: SubscriptionValue) -> ValuePair:
    """MonthlyValue/YearlyValue of one subscription; zero when it does not count."""
    if not value.counted:
        return ValuePair(0, 0)
    yearly = exact_yearly_minor(value)
    return ValuePair(round_half_up(yearly / 12), round_half_up(yearly))


def customer_totals(values: Iterable[SubscriptionValue]) -> CustomerTotals:
    counted = [v for v in values if v.counted]
    if not counted:
        return CustomerTotals(None, 0, 0, 0)
    per_currency = Counter(v.currency.lower() for v in counted)
    currency = min(per_currency, key=lambda code: (-per_currency[code], code))
    yearly = sum(
        (exact_yearly_minor(v) for v in counted if v.currency.lower() == currency), Fraction(0)
    )
    return CustomerTotals(
        currency=currency,
        monthly_minor=round_half_up(yearly / 12),
        yearly_minor=round_half_up(yearly),
        active_subscriptions=len(counted),
        left_out=tuple(sorted(code for code in per_currency if code != currency)),
    )
