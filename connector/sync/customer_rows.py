"""Billing_Customers rows the bridge may have to create: a registration can name a
`CustomerKey` the app never gave a customer row (PRODUCT.md Customers).

Updates stay keyed updates (no read before write); only when one matches nothing is the row
created, with the Email and Name Stripe knows for the customer (from the registration row at
sign-up, or typed on Stripe's Checkout page) and its StripeCustomerID.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from connector.sync.caspio_writer import MissingCaspioRow
from connector.sync.context import SyncContext

log = logging.getLogger(__name__)

CUSTOMERS = "Billing_Customers"


def write_customer(
    ctx: SyncContext,
    customer_key: str,
    values: Mapping[str, Any],
    stripe_customer_id: str | None = None,
) -> str:
    """Update the customer row by CustomerKey, creating it when it is missing.

    Returns the writer's outcome (`updated`, `skipped`, `inserted`)."""
    try:
        return ctx.writer.update(CUSTOMERS, "CustomerKey", customer_key, values)
    except MissingCaspioRow:
        pass
    extra: dict[str, Any] = {}
    if stripe_customer_id:
        extra["StripeCustomerID"] = stripe_customer_id
        if ctx.stripe is not None:
            customer = ctx.stripe.customer(stripe_customer_id)
            extra["Email"] = customer.get("email") or None
            extra["Name"] = customer.get("name") or None
    log.info("customer %s had no %s row; creating it", customer_key, CUSTOMERS)
    row = {k: v for k, v in {**extra, **values}.items() if v is not None}
    return ctx.writer.create(CUSTOMERS, "CustomerKey", customer_key, row, when_exists=values)
