"""checkout.session.completed -> the Billing_Subscriptions row the session was opened for.

The session names the Caspio row (metadata `caspio_subscription_key`, else
`client_reference_id`); that link is cached so every later subscription event finds the row
without a Caspio lookup. The subscription itself is re-fetched and applied like any
`customer.subscription.*` event. The customer's row gets its StripeCustomerID (and is
created when the app never made one). Checkout charged the first period only: a plan with an
intro or installments then gets its schedule (`ctx.schedules`), and the row shows it.
"""

from __future__ import annotations

from typing import Any

from connector.metrics import ignore_because
from connector.sync.context import SyncContext
from connector.sync.customer_rows import write_customer
from connector.sync.handlers.common import DONE, IGNORED, event_object
from connector.sync.handlers.subscriptions import (
    NO_SUBSCRIPTION_KEY,
    SUBSCRIPTIONS,
    apply_subscription,
    fetch_subscription,
)
from connector.sync.keys import (
    CUSTOMER_KEY_META,
    SUBSCRIPTION_KEY_META,
    meta,
    remember_customer_key,
    remember_subscription_key,
    stripe_id,
)

EVENT_TYPES = frozenset({"checkout.session.completed"})


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    session = event_object(event)
    subscription_id = stripe_id(session.get("subscription"))
    if session.get("mode") != "subscription" or subscription_id is None:
        ignore_because("not_a_subscription_checkout")
        return IGNORED
    reference = session.get("client_reference_id")
    key = meta(session, SUBSCRIPTION_KEY_META) or (
        reference if isinstance(reference, str) and reference else None
    )
    if key is None:
        ignore_because(NO_SUBSCRIPTION_KEY)
        return IGNORED
    remember_subscription_key(ctx, subscription_id, key)
    customer_id = stripe_id(session.get("customer"))
    customer = meta(session, CUSTOMER_KEY_META)
    if customer_id and customer:
        remember_customer_key(ctx, customer_id, customer)
        write_customer(ctx, customer, {"StripeCustomerID": customer_id}, customer_id)
    if ctx.stripe is None:
        ctx.writer.update(
            SUBSCRIPTIONS, "SubscriptionKey", key, {"StripeSubscriptionID": subscription_id}
        )
        return DONE
    subscription = fetch_subscription(ctx, subscription_id)
    if subscription is None:  # gone from Stripe: the link is all we know
        ctx.writer.update(
            SUBSCRIPTIONS, "SubscriptionKey", key, {"StripeSubscriptionID": subscription_id}
        )
        return DONE
    as_of = int(event["created"])
    outcome = apply_subscription(ctx, subscription, key_hint=key, as_of=as_of)
    if ctx.schedules is not None and subscription.get("status") in ("active", "trialing"):
        scheduled = ctx.schedules.after_first_charge(subscription, key)
        if scheduled is not None:
            outcome = apply_subscription(ctx, scheduled, key_hint=key, as_of=as_of)
    return outcome
