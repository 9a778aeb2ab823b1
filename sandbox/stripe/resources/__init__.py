"""One module per resource family; each exposes ``register(api)`` adding its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    checkout,
    customers,
    disputes,
    events,
    invoice_drafts,
    invoiceitems,
    invoices,
    payment_methods,
    payments,
    payouts,
    portal,
    prices,
    products,
    refunds,
    schedules,
    setup_intents,
    subscriptions,
    test_clocks,
    webhook_endpoints,
)

if TYPE_CHECKING:
    from ..api import Api

MODULES = [
    test_clocks,
    products,
    prices,
    customers,
    payment_methods,
    subscriptions,
    schedules,
    invoiceitems,
    invoice_drafts,
    invoices,
    payments,
    events,
    webhook_endpoints,
    checkout,
    setup_intents,
    portal,
    refunds,
    disputes,
    payouts,
]


def register_all(api: Api) -> None:
    for module in MODULES:
        module.register(api)
