"""Shared helpers for the Stripe emulator tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import stripe

from .receiver import Receiver, run_receiver

DAY = 86_400


@pytest.fixture(scope="module")
def _receiver_server() -> Iterator[Receiver]:
    with run_receiver() as receiver:
        yield receiver


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Receiver:
    _receiver_server.reset()
    return _receiver_server


def monthly_price(client: stripe.StripeClient, amount: int = 1500, **extra: Any) -> Any:
    product = client.v1.products.create({"name": "Gold plan"})
    params = {
        "product": product.id,
        "unit_amount": amount,
        "currency": "usd",
        "recurring": {"interval": "month"},
        **extra,
    }
    return client.v1.prices.create(params)


def customer_with_card(client: stripe.StripeClient, pm: str = "pm_card_visa", **extra: Any) -> Any:
    customer = client.v1.customers.create({"email": "payer@example.com", **extra})
    card = client.v1.payment_methods.attach(pm, {"customer": customer.id})
    return client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )


def subscribe(client: stripe.StripeClient, customer: Any, price: Any, **extra: Any) -> Any:
    return client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], **extra}
    )


def event_types(client: stripe.StripeClient) -> list[str]:
    """Every event type so far, oldest first."""
    events = client.v1.events.list({"limit": 100})
    assert not events.has_more
    return [e.type for e in reversed(events.data)]
