"""One module per resource family; each exposes ``register(api)`` adding its routes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import (
    checkout,
    customers,
    disputes,
    events,
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
    webhook_endpoints,
)

if TYPE_CHECKING:
    from ..api import Api

MODULES = [
    products,
    prices,
    customers,
    payment_methods,
    subscriptions,
    schedules,
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
