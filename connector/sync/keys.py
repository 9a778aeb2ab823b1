"""Stripe object -> Caspio key, cheapest source first, every answer cached in the store.

Order: the object's own metadata (PRODUCT.md Traceability), then the key cache, then one
Stripe read, then one Caspio read. Caspio is asked last because Caspio bills every call.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import stripe

from connector.sync import key_cache as kinds
from connector.sync.caspio_keys import caspio_key
from connector.sync.context import SyncContext

SUBSCRIPTION_KEY_META = "caspio_subscription_key"
CUSTOMER_KEY_META = "caspio_customer_key"
PLAN_KEY_META = "caspio_plan_key"


def stripe_id(value: Any) -> str | None:
    """An id field that may arrive expanded (`{"id": …}`) or as a plain string."""
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def meta(obj: Mapping[str, Any] | None, name: str) -> str | None:
    metadata = (obj or {}).get("metadata") or {}
    value = metadata.get(name) if isinstance(metadata, dict) else None
    return value if isinstance(value, str) and value else None


def remember_subscription_key(ctx: SyncContext, subscription_id: str, key: str) -> None:
    if ctx.keys.get(kinds.SUBSCRIPTION_KEY, subscription_id) != key:
        ctx.keys.put(kinds.SUBSCRIPTION_KEY, subscription_id, key)


def remember_customer_key(ctx: SyncContext, customer_id: str, key: str) -> None:
    if ctx.keys.get(kinds.CUSTOMER_KEY, customer_id) != key:
        ctx.keys.put(kinds.CUSTOMER_KEY, customer_id, key)


def subscription_key(
    ctx: SyncContext, subscription_id: str | None, metadata_key: str | None
) -> str | None:
    """No Caspio lookup: subscriptions the bridge made carry the key in metadata, and a
    Checkout session tells us the key of the subscription it created."""
    if not subscription_id:
        return metadata_key
    if metadata_key:
        remember_subscription_key(ctx, subscription_id, metadata_key)
        return metadata_key
    cached = ctx.keys.get(kinds.SUBSCRIPTION_KEY, subscription_id)
    return cached if isinstance(cached, str) else None


def customer_key(
    ctx: SyncContext,
    customer_id: str | None,
    metadata_key: str | None = None,
    *,
    ask_caspio: bool = True,
) -> str | None:
    """The Caspio CustomerKey of a Stripe customer: metadata, cache, the Stripe customer's
    metadata, then (only when `ask_caspio`) one Caspio read by StripeCustomerID.

    `ask_caspio=False` for objects that name no Caspio row (made in the Stripe dashboard):
    Caspio cannot know them, and every Caspio call is billed."""
    if metadata_key:
        if customer_id:
            remember_customer_key(ctx, customer_id, metadata_key)
        return metadata_key
    if not customer_id:
        return None
    cached = ctx.keys.get(kinds.CUSTOMER_KEY, customer_id)
    if isinstance(cached, str):
        return cached
    found: str | None = None
    if ctx.stripe is not None:
        try:
            found = meta(ctx.stripe.customer(customer_id), CUSTOMER_KEY_META)
        except stripe.InvalidRequestError as exc:
            # Deleted in Stripe (or test data wiped): it names no row; nothing to retry.
            if exc.http_status != 404:
                raise
    if found is None and ask_caspio:
        row = ctx.writer.find_one("Billing_Customers", "StripeCustomerID", customer_id)
        value = (row or {}).get("CustomerKey")
        found = value if isinstance(value, str) and value else None
    if found:
        remember_customer_key(ctx, customer_id, found)
    return found


def plan_facts(ctx: SyncContext, plan_key: str | None) -> dict[str, Any] | None:
    """PlanType, Balance and Currency of a Caspio plan, read once and cached."""
    if not plan_key:
        return None
    lookup = caspio_key(plan_key)  # one plan however its key is spelled (Caspio's rule)
    cached = ctx.keys.get(kinds.PLAN, lookup)
    if isinstance(cached, dict):
        return cached
    row = ctx.writer.find_one("Billing_Plans", "PlanKey", plan_key)
    if row is None:
        return None
    balance = row.get("Balance")
    facts = {
        "PlanType": str(row.get("PlanType") or "subscription"),
        "Balance": None if balance in (None, "") else str(balance),
        "Currency": str(row.get("Currency") or "usd").lower(),
    }
    ctx.keys.put(kinds.PLAN, lookup, facts)
    return facts


def invoice_for_payment(
    ctx: SyncContext, charge_id: str | None, payment_intent_id: str | None
) -> str | None:
    """The invoice a charge paid (Charge.invoice is gone since basil): cache, then one
    invoice_payments read by payment intent."""
    for lookup in (charge_id, payment_intent_id):
        if lookup:
            cached = ctx.keys.get(kinds.CHARGE_INVOICE, lookup)
            if isinstance(cached, str):
                return cached
    if not payment_intent_id or ctx.stripe is None:
        return None
    try:
        payments = ctx.stripe.invoice_payments_for_intent(payment_intent_id)
    except stripe.InvalidRequestError as exc:
        if exc.http_status != 404:
            raise
        return None  # the payment is gone from Stripe: it names no invoice we can find
    for payment in payments:
        invoice_id = stripe_id(payment.get("invoice"))
        if invoice_id:
            remember_payment(ctx, invoice_id, charge_id, payment_intent_id)
            return invoice_id
    return None


def remember_payment(
    ctx: SyncContext, invoice_id: str, charge_id: str | None, payment_intent_id: str | None
) -> None:
    for lookup in (charge_id, payment_intent_id):
        if lookup and ctx.keys.get(kinds.CHARGE_INVOICE, lookup) != invoice_id:
            ctx.keys.put(kinds.CHARGE_INVOICE, lookup, invoice_id)
