"""Installments and phases (pure): what a plan charges, period by period, in minor units.

PRODUCT.md rules turned into data the provisioning code hands to Stripe:

* **Pay plans**: ``Balance`` with ``Amount`` -> installments of ``Amount``, the last one the
  remainder (100 at 30 -> 30, 30, 30, 10); ``Balance`` with ``Installments`` and no
  ``Amount`` -> equal installments, the minor-unit remainder on the last (100 in 3 -> 33.33,
  33.33, 33.34). Both given -> ``Amount`` wins. The schedule ends by cancel.
* **Initial billing period**: the instance's ``InitialAmount`` until ``InitialBillingEnd``
  (an end date), else the plan's ``IntroAmount`` for ``IntroIntervals`` periods; then the
  plan amount, open-ended (the schedule releases the subscription). A free intro
  (amount 0) is a Stripe trial, not a $0 phase.

Stripe facts used (../shared/reference/stripe.md §4.2, §4.3): phases last for a
``duration`` of whole intervals or until an ``end_date``; ``iterations`` no longer exists;
``end_behavior`` is ``release`` or ``cancel``. A phase ending mid-period switches the price
at its end without proration, so the next renewal is the first charge at the new amount.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from connector.billing.money import MoneyError, minor_step, to_minor
from connector.billing.plans import Plan

__all__ = [
    "BillingPlan",
    "Phase",
    "ScheduleError",
    "add_periods",
    "billing_plan",
    "charges_before",
    "group_phases",
    "installments",
]

RELEASE, CANCEL = "release", "cancel"
_DAY = 86_400


class ScheduleError(ValueError):
    """A plan or registration row whose charges cannot be laid out; the text says why."""


@dataclass(frozen=True)
class Phase:
    """One stretch at one amount per billing period.

    ``periods``: how many billing periods it lasts; ``end_date``: until this Unix time
    instead; neither: open-ended (only the last phase of a released schedule)."""

    amount_minor: int
    periods: int | None = None
    end_date: int | None = None


@dataclass(frozen=True)
class BillingPlan:
    """Everything Stripe needs to charge one subscription instance as the rules say."""

    currency: str
    interval: str  # day | week | month | year
    interval_count: int
    phases: tuple[Phase, ...]
    end_behavior: str = RELEASE  # release | cancel
    trial_end: int | None = None  # free initial period of the row: a trial until this time
    # Free intro of the plan: a trial of this many days, counted by Stripe from the moment it
    # starts the subscription (so the bridge's clock never decides when it ends).
    trial_days: int | None = None

    @property
    def first_amount_minor(self) -> int:
        """The amount of the first charged period (what Checkout or the first invoice takes)."""
        return self.phases[0].amount_minor

    @property
    def needs_schedule(self) -> bool:
        """More than one amount, or an end: a subscription schedule after the first charge."""
        return len(self.phases) > 1 or self.end_behavior == CANCEL

    @property
    def total_minor(self) -> int | None:
        """Sum of every charge when the plan ends (pay plans), else None."""
        if self.end_behavior != CANCEL or any(p.periods is None for p in self.phases):
            return None
        return sum(p.amount_minor * (p.periods or 0) for p in self.phases)


def installments(
    balance_minor: int, amount_minor: int | None, count: int | None, step: int = 1
) -> list[int]:
    """Installment amounts (minor units) for a pay plan, first to last.

    ``amount_minor`` wins when both are given. ``step``: the smallest chargeable amount
    (``money.minor_step``: 10 fils for KWD), so equal installments stay chargeable and the
    remainder goes to the last one. Raises ScheduleError for a balance, amount or count that
    cannot make a plan (zero, negative, more installments than chargeable units).

    >>> installments(10000, 3000, None), installments(10000, None, 3)
    ([3000, 3000, 3000, 1000], [3333, 3333, 3334])
    """
    if balance_minor <= 0:
        raise ScheduleError("a pay plan needs a Balance above 0")
    if amount_minor is not None:
        if amount_minor <= 0:
            raise ScheduleError("a pay plan's Amount must be above 0")
        full, remainder = divmod(balance_minor, amount_minor)
        return [amount_minor] * full + ([remainder] if remainder else [])
    if count is None or count < 1:
        raise ScheduleError("a pay plan needs an Amount or a number of Installments")
    if count * step > balance_minor:
        raise ScheduleError(
            f"a Balance of {balance_minor} minor units cannot make {count} installments"
        )
    each = balance_minor // count // step * step
    return [each] * (count - 1) + [balance_minor - each * (count - 1)]


def group_phases(amounts: list[int]) -> tuple[Phase, ...]:
    """Consecutive equal amounts as one phase each: [30, 30, 30, 10] -> 30 x 3, 10 x 1."""
    phases: list[Phase] = []
    for amount in amounts:
        if phases and phases[-1].amount_minor == amount:
            phases[-1] = Phase(amount, (phases[-1].periods or 0) + 1)
        else:
            phases.append(Phase(amount, 1))
    return tuple(phases)


def add_periods(start: int, interval: str, interval_count: int, periods: int) -> int:
    """Unix time ``periods`` billing periods after ``start`` (UTC, months counted from the
    start and clamped to the month's end, as Stripe bills a subscription begun on the 31st)."""
    n = interval_count * periods
    if interval == "day":
        return start + n * _DAY
    if interval == "week":
        return start + n * 7 * _DAY
    if interval in ("month", "year"):
        months = n if interval == "month" else 12 * n
        moment = dt.datetime.fromtimestamp(start, tz=dt.timezone.utc)
        index = moment.month - 1 + months
        year, month = moment.year + index // 12, index % 12 + 1
        day = min(moment.day, calendar.monthrange(year, month)[1])
        return int(moment.replace(year=year, month=month, day=day).timestamp())
    raise ScheduleError(f"unknown billing interval {interval!r}")


def charges_before(start: int, end: int, interval: str, interval_count: int) -> int:
    """How many periods begin in [start, end): the charges at an intro amount that ends at
    ``end``, whether or not ``end`` falls on a renewal date."""
    count = 0
    while add_periods(start, interval, interval_count, count) < end:
        count += 1
    return count


def _minor(amount: Decimal, currency: str, field: str) -> int:
    try:
        return to_minor(amount, currency)
    except MoneyError as error:
        raise ScheduleError(f"{field}: {error}") from None


def billing_plan(
    plan: Plan,
    *,
    start: int,
    initial_amount: Decimal | None = None,
    initial_billing_end: dt.datetime | None = None,
) -> BillingPlan:
    """The phases of one subscription instance of ``plan`` starting at Unix time ``start``.

    ``initial_amount``/``initial_billing_end`` are the instance's own initial period and
    override the plan's intro; an end already past (or at ``start``) means no intro.
    Raises ScheduleError naming the field at fault."""
    currency, interval, count = plan.currency, plan.billing_interval, plan.interval_count
    if plan.is_payplan:
        if initial_amount is not None or initial_billing_end is not None:
            raise ScheduleError("a pay plan takes no InitialAmount or InitialBillingEnd")
        if plan.intro_amount is not None:
            raise ScheduleError("a pay plan takes no IntroAmount")
        if plan.balance is None:
            raise ScheduleError("a pay plan needs a Balance")
        amounts = installments(
            _minor(plan.balance, currency, "Balance"),
            None if plan.amount is None else _minor(plan.amount, currency, "Amount"),
            plan.installments,
            minor_step(currency),
        )
        return BillingPlan(currency, interval, count, group_phases(amounts), CANCEL)

    if plan.amount is None:
        raise ScheduleError("a subscription plan needs an Amount")
    regular = Phase(_minor(plan.amount, currency, "Amount"))
    if (initial_amount is None) != (initial_billing_end is None):
        raise ScheduleError("InitialAmount and InitialBillingEnd must be given together")
    if initial_amount is not None and initial_billing_end is not None:
        if initial_billing_end.tzinfo is None:
            initial_billing_end = initial_billing_end.replace(tzinfo=dt.timezone.utc)
        end = int(initial_billing_end.timestamp())
        if end <= start:
            return BillingPlan(currency, interval, count, (regular,))
        intro = _minor(initial_amount, currency, "InitialAmount")
        if intro == 0:
            return BillingPlan(currency, interval, count, (regular,), trial_end=end)
        return BillingPlan(currency, interval, count, (Phase(intro, end_date=end), regular))
    if plan.intro_amount is not None and plan.intro_intervals:
        intro = _minor(plan.intro_amount, currency, "IntroAmount")
        periods = plan.intro_intervals
        if intro == 0:
            days = (add_periods(start, interval, count, periods) - start) // _DAY
            return BillingPlan(currency, interval, count, (regular,), trial_days=days)
        return BillingPlan(currency, interval, count, (Phase(intro, periods=periods), regular))
    return BillingPlan(currency, interval, count, (regular,))
