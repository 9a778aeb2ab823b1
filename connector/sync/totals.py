"""Subscription and customer totals (pure): the PRODUCT.md formula, in exact fractions.

A subscription's charge is what Stripe will bill for its next period (`current_charge`):
0 during a free trial, item quantities and prices exactly as Stripe bills them, discounts
applied (an intro done as a coupon counts at the intro amount).

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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any

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


# --- What Stripe will charge for a subscription's next period (PRODUCT.md Totals) ---------

TiersOf = Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]]]


@dataclass(frozen=True)
class Charge:
    """One subscription's charge per period, as Stripe will bill it next."""

    amount_minor: int
    interval: str
    interval_count: int


def _no_tiers(price: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    raise ValueError(f"price {price.get('id')} is tiered but its tiers were not read")


def current_charge(subscription: Mapping[str, Any], tiers_of: TiersOf = _no_tiers) -> Charge:
    """The amount Stripe will charge per period (minor units), and the period.

    - 0 during a free trial (`status` trialing) and while collection is paused
      (`pause_collection` set: Stripe drafts no chargeable invoice);
    - otherwise the sum over the items of each item's amount (`item_amount`), less the
      subscription's and items' discounts (`discounted`), never below 0.
    The period is the first item's (Stripe requires one interval across a subscription's
    items). `tiers_of(price)` returns a tiered price's `tiers` when the payload lacks them
    (Stripe includes them only when expanded)."""
    items = _items(subscription)
    interval, count = "month", 1
    if items:
        price = _price(items[0])
        recurring = price.get("recurring") or price
        interval = str(recurring.get("interval") or "month")
        count = _int(recurring.get("interval_count")) or 1
    if subscription.get("status") == "trialing" or subscription.get("pause_collection"):
        return Charge(0, interval, count)
    currency = str(subscription.get("currency") or "").lower()
    total = Fraction(0)
    for item in items:
        line = Fraction(item_amount(item, tiers_of))
        total += discounted(line, item.get("discounts"), currency)
    total = discounted(total, subscription.get("discounts"), currency)
    return Charge(max(0, round_half_up(total)), interval, count)


def item_amount(item: Mapping[str, Any], tiers_of: TiersOf = _no_tiers) -> int:
    """One item's amount per period in minor units, as Stripe computes an invoice line.

    A metered price bills usage not known in advance: 0. The quantity is the item's, 0
    adding nothing, after `transform_quantity` (divide, then round up or down). Per-unit
    prices use `unit_amount_decimal` (fractions of a minor unit allowed), the line rounded
    half up; tiered prices apply their tiers (`volume`: the one tier the quantity falls in;
    `graduated`: each tier to its share), each tier's `flat_amount` included."""
    price = _price(item)
    recurring = price.get("recurring") or {}
    if recurring.get("usage_type") == "metered":
        return 0
    raw = item.get("quantity")
    quantity = raw if isinstance(raw, int) and not isinstance(raw, bool) else 1
    if quantity <= 0:
        return 0
    transform = price.get("transform_quantity")
    if isinstance(transform, Mapping) and _int(transform.get("divide_by")) > 0:
        exact = Fraction(quantity, _int(transform["divide_by"]))
        whole = exact.numerator // exact.denominator
        quantity = whole + (1 if transform.get("round") == "up" and exact != whole else 0)
    if price.get("billing_scheme") == "tiered":
        tiers = price.get("tiers")
        if not isinstance(tiers, list):
            tiers = list(tiers_of(price))
        return round_half_up(_tiered(tiers, str(price.get("tiers_mode")), quantity))
    return round_half_up(_unit(price) * quantity)


def discounted(amount: Fraction, discounts: Any, currency: str) -> Fraction:
    """`amount` less expanded Discount objects (`source.coupon`, or `coupon` in older
    shapes): `percent_off` first, then `amount_off` in the same currency; never below 0.
    A discount given only by id cannot be read and is refused."""
    if not isinstance(discounts, list):
        return amount
    for discount in discounts:
        if not isinstance(discount, Mapping):
            raise ValueError(f"discount {discount!r} was not expanded")
        source = discount.get("source") or {}
        coupon = source.get("coupon") if isinstance(source, Mapping) else None
        coupon = coupon or discount.get("coupon")
        if not isinstance(coupon, Mapping):
            raise ValueError(f"discount {discount.get('id')} has no readable coupon")
        percent = coupon.get("percent_off")
        if isinstance(percent, (int, float)) and not isinstance(percent, bool):
            amount = amount * (1 - Fraction(str(percent)) / 100)
        off = coupon.get("amount_off")
        if isinstance(off, int) and str(coupon.get("currency") or currency).lower() == currency:
            amount = amount - off
    return max(Fraction(0), amount)


def _items(subscription: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    data = (subscription.get("items") or {}).get("data") or []
    return [item for item in data if isinstance(item, Mapping)]


def _price(item: Mapping[str, Any]) -> Mapping[str, Any]:
    price = item.get("price") or item.get("plan") or {}
    return price if isinstance(price, Mapping) else {}


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _unit(price: Mapping[str, Any]) -> Fraction:
    """Per-unit amount in minor units, exact (`unit_amount_decimal` is a decimal string)."""
    decimal = price.get("unit_amount_decimal")
    if isinstance(decimal, str) and decimal:
        return Fraction(Decimal(decimal))
    return Fraction(_int(price.get("unit_amount", price.get("amount"))))


def _tier_unit(tier: Mapping[str, Any]) -> Fraction:
    decimal = tier.get("unit_amount_decimal")
    if isinstance(decimal, str) and decimal:
        return Fraction(Decimal(decimal))
    return Fraction(_int(tier.get("unit_amount")))


def _tier_flat(tier: Mapping[str, Any]) -> Fraction:
    decimal = tier.get("flat_amount_decimal")
    if isinstance(decimal, str) and decimal:
        return Fraction(Decimal(decimal))
    return Fraction(_int(tier.get("flat_amount")))


def _tiered(tiers: Sequence[Mapping[str, Any]], mode: str, quantity: int) -> Fraction:
    """Stripe's tiers: `up_to` null is the last, unbounded tier."""
    if mode == "volume":
        for tier in tiers:
            up_to = tier.get("up_to")
            if up_to is None or quantity <= _int(up_to):
                return _tier_flat(tier) + _tier_unit(tier) * quantity
        raise ValueError("no tier covers the quantity")
    total, below = Fraction(0), 0
    for tier in tiers:
        if below >= quantity:
            break
        up_to = tier.get("up_to")
        top = quantity if up_to is None else min(quantity, _int(up_to))
        total += _tier_flat(tier) + _tier_unit(tier) * (top - below)
        below = top
    return total
