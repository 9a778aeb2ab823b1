"""customer.subscription.* -> Billing_Subscriptions (by SubscriptionKey) and the customer's totals.

Stale payloads: subscriptions ARE re-fetched from Stripe (one counted call per event), so
whatever order events arrive in, the row ends up with the subscription's current state.
When no fresh object can be had (Stripe answers 404 because the subscription or the test
data is gone; no Stripe reader in tests of the pure path) the payload is applied only if it
passes the event-time guard against every state applied before, fresh or not.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import replace
from decimal import Decimal
from typing import Any

import stripe

from connector.billing.money import from_minor
from connector.metrics import ignore_because
from connector.sync.caspio_keys import caspio_key
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext
from connector.sync.customer_rows import write_customer
from connector.sync.event_versions import REREAD
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
from connector.sync.totals import TiersOf, current_charge, customer_totals, subscription_value

log = logging.getLogger(__name__)

SUBSCRIPTIONS = "Billing_Subscriptions"
CUSTOMERS = "Billing_Customers"
COMPLETED = "completed"
SUBSCRIPTION = "subscription"
NO_SUBSCRIPTION_KEY = "no_caspio_subscription_key"
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
    if event.get(REREAD):  # read from Stripe just now, at the pinned version
        return apply_subscription(ctx, payload, as_of=created)
    fresh = None if ctx.stripe is None else fetch_subscription(ctx, subscription_id)
    if fresh is None:
        # No fresh object (no Stripe reader, or Stripe answers 404: deleted, test data
        # wiped): the payload is all there is, so the event-time guard must hold.
        state = ctx.objects.get(subscription_id)
        if not is_newer(state, created, status_rank(payload), _state_rank(state)):
            return DONE
        return apply_subscription(ctx, payload, as_of=created)
    return apply_subscription(ctx, fresh, as_of=created)


def fetch_subscription(ctx: SyncContext, subscription_id: str) -> dict[str, Any] | None:
    """The subscription as Stripe has it now, or None when Stripe no longer knows it (404).

    Other errors propagate (the worker decides whether to retry)."""
    assert ctx.stripe is not None
    try:
        return ctx.stripe.subscription(subscription_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status == 404:
            return None
        raise


_FINAL = frozenset({"canceled", "incomplete_expired", COMPLETED})


def status_rank(subscription: dict[str, Any]) -> int:
    """Within one second, an ending outranks anything else: it cannot be undone."""
    return 1 if subscription.get("status") in _FINAL else 0


def _state_rank(state: ObjectState | None) -> int:
    return int_or_zero(state.state.get("rank")) if state else 0


def _remember_applied(ctx: SyncContext, subscription_id: str, as_of: int, status: str) -> None:
    """The event time (and ending rank) of the newest state applied to this subscription,
    for the guard used when no fresh object can be read."""
    state = ctx.objects.get(subscription_id)
    rank = 1 if status in _FINAL else 0
    if state is not None and not is_newer(state, as_of, rank, _state_rank(state)):
        return
    ctx.objects.put(subscription_id, ObjectState(SUBSCRIPTION, as_of, {"rank": rank}))


def _tiers_of(ctx: SyncContext) -> TiersOf:
    """Reads a tiered price's tiers (Stripe includes them only when expanded)."""

    def tiers_of(price: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
        price_id = price.get("id")
        if ctx.stripe is None or not isinstance(price_id, str):
            raise ValueError(f"price {price_id} is tiered but its tiers cannot be read")
        tiers = ctx.stripe.price(price_id).get("tiers")
        return tiers if isinstance(tiers, list) else []

    return tiers_of


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
    ctx: SyncContext,
    subscription: dict[str, Any],
    key_hint: str | None = None,
    *,
    as_of: int | None = None,
) -> str:
    """Write one subscription state to its Caspio row and the customer's totals.

    `as_of`: the `created` of the event that brought it; remembered for the event-time guard
    of later events whose object cannot be re-read."""
    subscription_id: str = subscription["id"]
    sub_key = subscription_key(
        ctx, subscription_id, meta(subscription, SUBSCRIPTION_KEY_META) or key_hint
    )
    if not sub_key:
        # Made outside the bridge (PRODUCT.md: not invented in Caspio; its invoices still
        # get payment rows).
        log.info("subscription %s names no Caspio row; ignored", subscription_id)
        ignore_because(NO_SUBSCRIPTION_KEY)
        return IGNORED
    cust_key = customer_key(
        ctx, stripe_id(subscription.get("customer")), meta(subscription, CUSTOMER_KEY_META)
    )
    charge = current_charge(subscription, _tiers_of(ctx))
    amount, interval, count = charge.amount_minor, charge.interval, charge.interval_count
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
            "CanceledAt": from_unix(_canceled_at(subscription)),
            "MonthlyValue": from_minor(pair.monthly_minor, currency),
            "YearlyValue": from_minor(pair.yearly_minor, currency),
        }
    )
    if status in _LIVE and _became_live(ctx, sub_key):
        # Started (checkout completed, first invoice paid): what went wrong before the start
        # (e.g. "no default card" from a provisioning pass racing the sign-up link) is over.
        values["LastError"] = None
    ctx.writer.update(SUBSCRIPTIONS, "SubscriptionKey", sub_key, values)
    if status in _FINAL and ctx.retry_links is not None:
        # An ended subscription's failed invoices cannot be retried (issue 14): no Retry
        # button may stay `available` on their rows.
        ctx.retry_links.subscription_ended(ctx, subscription_id)
    _save_record(ctx, record, stripe_id(subscription.get("customer")))
    if as_of is not None:
        _remember_applied(ctx, subscription_id, as_of, status)
    return DONE


_LIVE = frozenset({"trialing", "active"})
_ENDED = frozenset({"canceled", "incomplete_expired"})


def _canceled_at(subscription: Mapping[str, Any]) -> int | None:
    """CanceledAt (PRODUCT.md): when the subscription ended, or, while a cancellation is
    pending (`cancel_at_period_end`, `cancel_at`), when it will end: Stripe's `cancel_at`.
    Blank again when the cancellation is undone. Stripe also sets `canceled_at` on a
    pending cancellation, but to the time of the request, not the end (API reference,
    Subscription object, `canceled_at`), so it is used only once the subscription ended."""
    if subscription.get("status") in _ENDED:
        value = subscription.get("canceled_at")
    else:
        value = subscription.get("cancel_at")
    return int(value) if isinstance(value, (int, float)) else None


def _became_live(ctx: SyncContext, sub_key: str) -> bool:
    """Whether the row's last known Status (the bridge's memory of its writes) is not yet
    live, or unknown. A live row keeps its LastError (a failed RequestedAction, say) until
    something clears it on purpose."""
    remembered = ctx.writer.memory.get(SUBSCRIPTIONS, sub_key)
    previous = remembered.values.get("Status") if remembered is not None else None
    return previous not in _LIVE


def _save_record(
    ctx: SyncContext, record: SubscriptionRecord, stripe_customer_id: str | None = None
) -> None:
    """Store the record; when its value changed, rewrite the affected customers' totals.

    Totals are written before the record is stored: if a write fails the event is retried
    and the change is still seen."""
    previous = ctx.subscriptions.get(record.subscription_id)
    named = [r.customer_key for r in (previous, record) if r is not None and r.customer_key]
    # Sums and the stored record change together, one worker per Caspio customer at a time.
    with ctx.subscriptions.customer_lock(named):
        _save_record_locked(ctx, record, previous, stripe_customer_id)


def _save_record_locked(
    ctx: SyncContext,
    record: SubscriptionRecord,
    previous: SubscriptionRecord | None,
    stripe_customer_id: str | None,
) -> None:
    if not record.same_value(previous):
        # Customers as Caspio tells them apart (case, trailing spaces ignored); each written
        # under the key text this event gave, else the one remembered.
        customers: dict[str, str] = {}
        for known in (previous, record):
            if known is not None and known.customer_key:
                customers[caspio_key(known.customer_key)] = known.customer_key
        for same, customer in sorted(customers.items()):
            records = [
                r
                for r in ctx.subscriptions.for_customer(customer)
                if r.subscription_id != record.subscription_id
            ]
            mine = record.customer_key is not None and caspio_key(record.customer_key) == same
            if mine:
                records.append(record)
            write_totals(ctx, customer, records, stripe_customer_id if mine else None)
    stored = (
        record
        if record.customer_key is None
        else replace(record, customer_key=caspio_key(record.customer_key))
    )
    if previous != stored:
        ctx.subscriptions.put(record)


def write_totals(
    ctx: SyncContext,
    customer: str,
    records: list[SubscriptionRecord],
    stripe_customer_id: str | None = None,
) -> None:
    """The customer's totals; a customer without a row gets one (PRODUCT.md Customers)."""
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
    write_customer(ctx, customer, values, stripe_customer_id)


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
