"""Products, prices, customers and payment methods."""

from __future__ import annotations

import pytest
import stripe

from .conftest import monthly_price


def test_price_lookup_keys_and_active_filter(stripe_client) -> None:
    old = monthly_price(stripe_client, 1000, lookup_key="gold_monthly")
    with pytest.raises(stripe.InvalidRequestError, match="already uses that lookup key"):
        monthly_price(stripe_client, 1200, lookup_key="gold_monthly")
    new = monthly_price(stripe_client, 1200, lookup_key="gold_monthly", transfer_lookup_key=True)
    assert stripe_client.v1.prices.retrieve(old.id).lookup_key is None
    stripe_client.v1.prices.update(old.id, {"active": False})

    found = stripe_client.v1.prices.list({"lookup_keys": ["gold_monthly"], "active": True})
    assert [p.id for p in found.data] == [new.id]
    assert [p.id for p in stripe_client.v1.prices.list({"active": False}).data] == [old.id]
    assert len(stripe_client.v1.prices.list().data) == 2
    moved = stripe_client.v1.events.list({"type": "price.updated"}).data[-1]
    assert moved.data.previous_attributes.lookup_key == "gold_monthly"


@pytest.mark.parametrize(
    ("interval", "count", "ok"),
    [
        ("day", 1095, True),
        ("day", 1096, False),
        ("week", 156, True),
        ("week", 157, False),
        ("month", 36, True),
        ("month", 37, False),
        ("year", 3, True),
        ("year", 4, False),
        ("month", 0, False),
        ("fortnight", 1, False),
    ],
)
def test_recurring_limits(stripe_client, interval: str, count: int, ok: bool) -> None:
    product = stripe_client.v1.products.create({"name": "P"})
    params = {
        "product": product.id,
        "currency": "usd",
        "unit_amount": 100,
        "recurring": {"interval": interval, "interval_count": count},
    }
    if ok:
        assert stripe_client.v1.prices.create(params).recurring.interval_count == count
    else:
        with pytest.raises(stripe.InvalidRequestError) as caught:
            stripe_client.v1.prices.create(params)
        assert caught.value.param.startswith("recurring[")


def test_price_with_product_data_and_product_updates(stripe_client) -> None:
    price = stripe_client.v1.prices.create(
        {"currency": "EUR", "unit_amount": 990, "product_data": {"name": "Silver"}}
    )
    assert (
        price.currency == "eur"
        and price.type == "one_time"
        and str(price.unit_amount_decimal) == "990"
    )
    product = stripe_client.v1.products.update(
        price.product, {"metadata": {"plan": "silver"}, "default_price": price.id}
    )
    assert product.default_price == price.id and product.metadata.plan == "silver"
    with pytest.raises(stripe.InvalidRequestError, match="cannot be deleted"):
        stripe_client.v1.products.delete(product.id)
    other = stripe_client.v1.products.create({"name": "Gone"})
    assert stripe_client.v1.products.delete(other.id).deleted is True
    assert [p.id for p in stripe_client.v1.products.list({"active": True}).data] == [product.id]


def test_customers_metadata_email_and_search(stripe_client) -> None:
    a = stripe_client.v1.customers.create(
        {"email": "a@example.com", "metadata": {"caspio_customer_key": "abc", "tier": "1"}}
    )
    b = stripe_client.v1.customers.create(
        {"email": "b@example.com", "metadata": {"caspio_customer_key": "xyz"}}
    )
    assert [c.id for c in stripe_client.v1.customers.list({"email": "b@example.com"}).data] == [
        b.id
    ]

    result = stripe_client.v1.customers.search({"query": "metadata['caspio_customer_key']:'abc'"})
    assert result.object == "search_result" and [c.id for c in result.data] == [a.id]
    both = stripe_client.v1.customers.search(
        {"query": 'metadata["tier"]:"1" AND email:"a@example.com"'}
    )
    assert [c.id for c in both.data] == [a.id]
    none = stripe_client.v1.customers.search(
        {"query": "metadata['tier']:'1' AND email:'b@example.com'"}
    )
    assert none.data == []

    updated = stripe_client.v1.customers.update(a.id, {"metadata": {"tier": ""}})
    assert updated.metadata.to_dict() == {"caspio_customer_key": "abc"}
    deleted = stripe_client.v1.customers.delete(b.id)
    assert deleted.deleted is True
    assert stripe_client.v1.customers.retrieve(b.id).deleted is True
    assert [c.id for c in stripe_client.v1.customers.list().data] == [a.id]


@pytest.mark.parametrize(
    ("number", "decline"),
    [
        ("4000000000000002", ("card_declined", "generic_decline")),
        ("4000000000009995", ("card_declined", "insufficient_funds")),
        ("4000000000000069", ("expired_card", "expired_card")),
    ],
)
def test_cards_declined_at_attach(stripe_client, number: str, decline: tuple[str, str]) -> None:
    customer = stripe_client.v1.customers.create()
    pm = stripe_client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {"number": number, "exp_month": 12, "exp_year": 2031, "cvc": "123"},
        }
    )
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_methods.attach(pm.id, {"customer": customer.id})
    assert (caught.value.code, caught.value.error.decline_code) == decline
    assert stripe_client.v1.payment_methods.retrieve(pm.id).customer is None


def test_payment_methods_attach_detach_and_default(stripe_client) -> None:
    customer = stripe_client.v1.customers.create({"payment_method": "pm_card_visa"})
    raw = stripe_client.v1.payment_methods.create(
        {"type": "card", "card": {"number": "4000000000000341", "exp_month": 3, "exp_year": 2032}}
    )
    assert (raw.card.last4, raw.card.brand, raw.card.exp_year) == ("0341", "visa", 2032)
    attached = stripe_client.v1.payment_methods.attach(raw.id, {"customer": customer.id})
    assert attached.customer == customer.id

    cards = stripe_client.v1.customers.payment_methods.list(customer.id, {"type": "card"})
    assert len(cards.data) == 2
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": "pm_card_visa"}}
        )
    stripe_client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": raw.id}}
    )
    stripe_client.v1.payment_methods.detach(raw.id)
    assert (
        stripe_client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method
        is None
    )
    with pytest.raises(stripe.CardError) as bad:
        stripe_client.v1.payment_methods.create(
            {
                "type": "card",
                "card": {"number": "4242424242424241", "exp_month": 1, "exp_year": 2031},
            }
        )
    assert bad.value.code == "incorrect_number"
    types = [e.type for e in stripe_client.v1.events.list().data]
    assert types.count("payment_method.attached") == 2 and "payment_method.detached" in types


def test_standalone_payment_intent_and_charges(stripe_client) -> None:
    customer = stripe_client.v1.customers.create()
    pi = stripe_client.v1.payment_intents.create(
        {
            "amount": 500,
            "currency": "usd",
            "customer": customer.id,
            "payment_method": "pm_card_visa",
            "confirm": True,
        }
    )
    assert pi.status == "succeeded" and pi.amount_received == 500
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert charge.paid and charge.captured and charge.outcome.type == "authorized"
    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.payment_intents.create(
            {
                "amount": 500,
                "currency": "usd",
                "payment_method": "pm_card_chargeDeclinedExpiredCard",
                "confirm": True,
            }
        )
    assert caught.value.code == "expired_card"
    assert caught.value.error.payment_intent.status == "requires_payment_method"
    failed = stripe_client.v1.charges.list({"payment_intent": caught.value.error.payment_intent.id})
    assert failed.data[0].failure_code == "expired_card"
