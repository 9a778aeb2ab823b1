"""Small builders shared by the flow tests (all through stripe-python)."""

from __future__ import annotations

from typing import Any

import stripe

from sandbox.stripe.server import EmulatorHandle


def customer_with_card(
    client: stripe.StripeClient, card: str = "pm_card_visa", **extra: Any
) -> Any:
    customer = client.v1.customers.create(params={"email": "payer@example.com", **extra})
    pm = client.v1.payment_methods.attach(card, params={"customer": customer.id})
    return client.v1.customers.update(
        customer.id, params={"invoice_settings": {"default_payment_method": pm.id}}
    )


def monthly_price(client: stripe.StripeClient, product: str, amount: int) -> Any:
    return client.v1.prices.create(
        params={
            "product": product,
            "currency": "usd",
            "unit_amount": amount,
            "recurring": {"interval": "month"},
        }
    )


def product(client: stripe.StripeClient, name: str = "Gold plan") -> Any:
    return client.v1.products.create(params={"name": name})


def invoices_of(client: stripe.StripeClient, subscription: str) -> list[Any]:
    """The subscription's invoices, oldest first."""
    page = client.v1.invoices.list(params={"subscription": subscription, "limit": 100})
    return sorted(page.data, key=lambda inv: (inv.created, inv.number))


def event_types(client: stripe.StripeClient, pattern: str) -> list[str]:
    """Types of the events matching ``pattern``, oldest first."""
    page = client.v1.events.list(params={"type": pattern, "limit": 100})
    return [e.type for e in reversed(list(page.auto_paging_iter()))]


def advance_to(emulator: EmulatorHandle, when: int) -> None:
    emulator.advance(max(0, when - emulator.now()))


def period_end(client: stripe.StripeClient, subscription: str) -> int:
    sub = client.v1.subscriptions.retrieve(subscription)
    return int(sub["items"].data[0].current_period_end)
