"""customer.subscription.* -> Billing_Subscriptions (by SubscriptionKey) and the customer's totals.

Stale payloads: subscriptions ARE re-fetched from Stripe (one counted call per event), so
whatever order events arrive in, the row ends up with the subscription's current state.
Without a Stripe reader (tests of the pure path), the event-time guard is used instead.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any

import stripe

from connector.billing.money import from_minor
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext
from connector.sync.handlers.common import DONE, IGNORED, currency_of, event_object, int_or_zero
from connector.sync.handlers.payplan import payplan_progress
from connector.sync.keys import (
    CUSTOMER_KEY_META,
    PLAN_KEY_META,
    SUBSCRIPTION_KEY_META,
    customer_key,
    meta,
    stripe_id,
    subscription_key,
)
from connector.sync.object_state import ObjectState, is_newer
from connector.sync.status import access_active
from connector.sync.subscription_records import SubscriptionRecord
from connector.sync.totals import customer_totals, subscription_value

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "Billing_Subscriptions"
CUSTOMERS = "Billing_Customers"
COMPLETED = "completed"
EVENT_TYPES = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.paused",
        "customer.subscription.resumed",
        "customer.subscription.pending_update_applied",
        "customer.subscription.pending_update_expired",
    }
)


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    payload = event_object(event)
    subscription_id: str = payload["id"]
    created = int(event["created"])
    if ctx.stripe is None:
        state = ctx.objects.get(subscription_id)
        if not is_newer(state, created):
            return DONE
        result = apply_subscription(ctx, payload)
        ctx.objects.put(subscription_id, ObjectState("subscription", created))
        return result
    return apply_subscription(ctx, fetch_subscription(ctx, subscription_id, payload))


def fetch_subscription(
    ctx: SyncContext, subscription_id: str, fallback: dict[str, Any]
) -> dict[str, Any]:
    assert ctx.stripe is not None
    try:
        return ctx.stripe.subscription(subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:  # gone from Stripe (test data wiped): the payload is all we have
            return fallback
        raise


def _charge(subscription: dict[str, Any]) -> tuple[int, str, int]:
    """(amount per period in minor units, interval, interval count) from the items."""
    items = ((subscription.get("items") or {}).get("data")) or []
    amount, interval, count = 0, "month", 1
    for index, item in enumerate(items):
        price = item.get("price") or item.get("plan") or {}
        unit = price.get("unit_amount", price.get("amount"))
        amount += int_or_zero(unit) * int_or_zero(item.get("quantity", 1) or 1)
        recurring = price.get("recurring") or price
        if index == 0:
            interval = str(recurring.get("interval") or "month")
            count = int_or_zero(recurring.get("interval_count")) or 1
    return amount, interval, count


def _period_end(subscription: dict[str, Any]) -> int | None:
    # Since basil the period lives on each item; the subscription ends with its last item.
    items = ((subscription.get("items") or {}).get("data")) or []
    ends = [
        int_or_zero(item.get("current_period_end"))
        for item in items
        if item.get("current_period_end")
    ]
    return max(ends) if ends else subscription.get("current_period_end")


def apply_subscription(
    ctx: SyncContext, subscription: dict[str, Any], key_hint: str | None = None
) -> str:
    subscription_id: str = subscription["id"]
    sub_key = subscription_key(
        ctx, subscription_id, meta(subscription, SUBSCRIPTION_KEY_META) or key_hint
    )
    if not sub_key:
        log.info("subscription %s names no Caspio row; ignored", subscription_id)
        return IGNORED
    cust_key = customer_key(
        ctx, stripe_id(subscription.get("customer")), meta(subscription, CUSTOMER_KEY_META)
    )
    amount, interval, count = _charge(subscription)
    currency = currency_of(subscription)
    status = subscription.get("status")
    if not isinstance(status, str) or not status:
        # str(None) would write the text "None" as Status and drop the totals silently.
        raise ValueError(f"subscription {subscription_id} has no status")
    values: dict[str, Any] = {}
    progress = payplan_progress(ctx, subscription_id, meta(subscription, PLAN_KEY_META), currency)
    if progress is not None:
        remaining, installments = progress
        values["BalanceRemaining"] = from_minor(remaining, currency)
        values["InstallmentsPaid"] = installments
        if remaining == 0:
            status = COMPLETED
    record = SubscriptionRecord(
        subscription_id, sub_key, cust_key, status, amount, currency, interval, count
    )
    pair = subscription_value(record.value)
    values.update(
        {
            "Status": status,
            "AccessActive": access_active(status, past_due_access=ctx.past_due_access),
            "StripeSubscriptionID": subscription_id,
            "StripeScheduleID": stripe_id(subscription.get("schedule")),
            "StartedAt": from_unix(subscription.get("start_date")),
            "CurrentPeriodEnd": from_unix(_period_end(subscription)),
            "CanceledAt": from_unix(subscription.get("canceled_at")),
            "MonthlyValue": from_minor(pair.monthly_minor, currency),
            "YearlyValue": from_minor(pair.yearly_minor, currency),
        }
    )
    ctx.writer.update(SUBSCRIPTIONS, "SubscriptionKey", sub_key, values)
    _save_record(ctx, record)
    return DONE


def _save_record(ctx: SyncContext, record: SubscriptionRecord) -> None:
    """Store the record; when its value changed, rewrite the affected customers' totals.

    Totals are written before the record is stored: if a write fails the event is retried
    and the change is still seen."""
    previous = ctx.subscriptions.get(record.subscription_id)
    if not record.same_value(previous):
        customers = {record.customer_key, previous.customer_key if previous else None} - {None}
        for customer in sorted(c for c in customers if c):
            records = [
                r
                for r in ctx.subscriptions.for_customer(customer)
                if r.subscription_id != record.subscription_id
            ]
            if record.customer_key == customer:
                records.append(record)
            write_totals(ctx, customer, records)
    if previous != record:
        ctx.subscriptions.put(record)


def write_totals(ctx: SyncContext, customer: str, records: list[SubscriptionRecord]) -> None:
    totals = customer_totals(r.value for r in records)
    if totals.left_out:
        log.warning(
            "customer %s pays in several currencies; totals in %s leave out %s",
            customer,
            totals.currency,
            ", ".join(totals.left_out),
        )
    values: dict[str, Any] = {"ActiveSubscriptions": totals.active_subscriptions}
    if totals.currency:
        values["AvgMonthlyTotal"] = from_minor(totals.monthly_minor, totals.currency)
        values["AvgYearlyTotal"] = from_minor(totals.yearly_minor, totals.currency)
        values["TotalsCurrency"] = totals.currency
    else:
        values["AvgMonthlyTotal"] = Decimal(0)
        values["AvgYearlyTotal"] = Decimal(0)
    ctx.writer.update(CUSTOMERS, "CustomerKey", customer, values)


def mark_completed(
    ctx: SyncContext,
    subscription_id: str,
    sub_key: str,
    remaining: int,
    installments: int,
    currency: str,
) -> None:
    """A pay plan paid in full: status `completed`, no access, out of the totals."""
    values: dict[str, Any] = {
        "Status": COMPLETED,
        "AccessActive": False,
        "BalanceRemaining": from_minor(remaining, currency),
        "InstallmentsPaid": installments,
        "MonthlyValue": from_minor(0, currency),
        "YearlyValue": from_minor(0, currency),
    }
    ctx.writer.update(SUBSCRIPTIONS, "SubscriptionKey", sub_key, values)
    previous = ctx.subscriptions.get(subscription_id)
    if previous is not None and previous.status != COMPLETED:
        _save_record(ctx, replace(previous, status=COMPLETED))
