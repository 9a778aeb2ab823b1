"""Returned objects carry the keys of Stripe's fixtures (minus/plus the documented lists)."""

from __future__ import annotations

import pytest

from sandbox.stripe import shapes
from tests.reference import stripe_fixtures

from .conftest import customer_with_card, monthly_price


@pytest.fixture(scope="module")
def fixtures() -> dict:
    return stripe_fixtures()


def _expected(fixtures: dict, kind: str) -> set[str]:
    keys = set(fixtures[kind]) - set(shapes.OMITTED_KEYS.get(kind, {}))
    return keys


def test_defaults_match_fixture_keys(fixtures) -> None:
    for kind, default in shapes.DEFAULTS.items():
        assert set(default) == _expected(fixtures, kind), kind


def test_returned_objects_match_fixture_keys(fixtures, stripe_client, stripe_emulator) -> None:
    stripe_client.v1.webhook_endpoints.create(
        {"url": "http://127.0.0.1:9/unused", "enabled_events": ["product.created"]}
    )
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client)
    sub = stripe_client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "expand": ["latest_invoice.payments.data.payment.payment_intent"],
        }
    )
    invoice = sub.latest_invoice
    payment = invoice.payments.data[0]
    pi = payment.payment.payment_intent
    objects = {
        "product": stripe_client.v1.products.retrieve(price.product).to_dict(),
        "price": price.to_dict(),
        "customer": customer.to_dict(),
        "payment_method": stripe_client.v1.payment_methods.list({"customer": customer.id})
        .data[0]
        .to_dict(),
        "subscription": stripe_client.v1.subscriptions.retrieve(sub.id).to_dict(),
        "subscription_item": sub["items"].data[0].to_dict(),
        "plan": sub["items"].data[0].plan.to_dict(),
        "invoice": stripe_client.v1.invoices.retrieve(invoice.id).to_dict(),
        "line_item": invoice.lines.data[0].to_dict(),
        "invoice_payment": stripe_client.v1.invoice_payments.retrieve(payment.id).to_dict(),
        "payment_intent": stripe_client.v1.payment_intents.retrieve(pi.id).to_dict(),
        "charge": stripe_client.v1.charges.retrieve(pi.latest_charge).to_dict(),
        "event": stripe_client.v1.events.list().data[0].to_dict(),
        "webhook_endpoint": stripe_client.v1.webhook_endpoints.list().data[0].to_dict(),
    }
    for kind, obj in objects.items():
        assert set(obj) == _expected(fixtures, kind), kind
    assert {"payments"} <= set(invoice.to_dict())  # includable, present when expanded
    assert set(invoice.lines.data[0].pricing.to_dict()) == {
        "price_details",
        "type",
        "unit_amount_decimal",
    }
    stripe_emulator.emulator.dispatcher.clear()  # the endpoint address above never answers


def test_new_refuses_unknown_keys() -> None:
    with pytest.raises(KeyError):
        shapes.new("customer", colour="red")
