"""Smaller behaviours: item changes, invoice filters and void, search, endpoint CRUD."""

from __future__ import annotations

import pytest
import requests
import stripe

from .conftest import DAY, customer_with_card, monthly_price, subscribe


def test_price_change_applies_from_next_renewal(stripe_emulator, stripe_client) -> None:
    cheap, dear = monthly_price(stripe_client, 1000), monthly_price(stripe_client, 3000)
    sub = subscribe(stripe_client, customer_with_card(stripe_client), cheap)
    item = sub["items"].data[0]
    updated = stripe_client.v1.subscriptions.update(
        sub.id, {"items": [{"id": item.id, "price": dear.id}], "proration_behavior": "none"}
    )
    assert updated["items"].data[0].price.id == dear.id
    assert updated["items"].data[0].current_period_end == item.current_period_end
    stripe_emulator.advance(item.current_period_end - stripe_emulator.now())
    latest = stripe_client.v1.invoices.retrieve(
        stripe_client.v1.subscriptions.retrieve(sub.id).latest_invoice
    )
    assert latest.amount_paid == 3000
    assert latest.lines.data[0].pricing.price_details.price == dear.id


def test_invoice_filters_void_and_out_of_band(stripe_client) -> None:
    price = monthly_price(stripe_client)
    declined = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    good = customer_with_card(stripe_client)
    open_sub = subscribe(stripe_client, declined, price)
    paid_sub = subscribe(stripe_client, good, price)
    assert [i.id for i in stripe_client.v1.invoices.list({"status": "open"}).data] == [
        open_sub.latest_invoice
    ]
    assert [i.id for i in stripe_client.v1.invoices.list({"customer": good.id}).data] == [
        paid_sub.latest_invoice
    ]
    lines = stripe_client.v1.invoices.line_items.list(open_sub.latest_invoice)
    assert lines.data[0].amount == 1500
    marked = stripe_client.v1.invoices.pay(open_sub.latest_invoice, {"paid_out_of_band": True})
    assert marked.status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(open_sub.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.void_invoice(paid_sub.latest_invoice)


def test_void_open_invoice(stripe_client) -> None:
    price = monthly_price(stripe_client)
    sub = subscribe(
        stripe_client, customer_with_card(stripe_client, "pm_card_chargeDeclined"), price
    )
    voided = stripe_client.v1.invoices.void_invoice(sub.latest_invoice)
    assert voided.status == "void" and voided.status_transitions.voided_at is not None
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.invoices.pay(sub.latest_invoice)


def test_subscription_search_and_list_filters(stripe_client) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client)
    tagged = subscribe(stripe_client, customer, price, metadata={"caspio_row": "7"})
    subscribe(stripe_client, customer, price)
    found = stripe_client.v1.subscriptions.search({"query": "metadata['caspio_row']:'7'"})
    assert [s.id for s in found.data] == [tagged.id]
    assert len(stripe_client.v1.subscriptions.list({"price": price.id}).data) == 2
    items = stripe_client.v1.subscription_items.list({"subscription": tagged.id})
    assert [i.id for i in items.data] == [tagged["items"].data[0].id]


def test_webhook_endpoint_crud(stripe_client) -> None:
    created = stripe_client.v1.webhook_endpoints.create(
        {"url": "http://127.0.0.1:9/x", "enabled_events": ["invoice.paid"], "description": "d"}
    )
    updated = stripe_client.v1.webhook_endpoints.update(
        created.id, {"enabled_events": ["invoice.paid", "invoice.payment_failed"]}
    )
    assert list(updated.enabled_events) == ["invoice.paid", "invoice.payment_failed"]
    assert stripe_client.v1.webhook_endpoints.delete(created.id).deleted is True
    assert stripe_client.v1.webhook_endpoints.list().data == []
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.webhook_endpoints.create({"url": "ftp://x", "enabled_events": ["*"]})


def test_billing_settings_over_http(stripe_emulator, stripe_client) -> None:
    url = f"{stripe_emulator.base_url}/_emulator/billing"
    answer = requests.post(
        url, json={"retry_schedule": [DAY], "after_retries": "unpaid"}, timeout=5
    )
    assert answer.json()["retry_schedule"] == [DAY] and answer.json()["after_retries"] == "unpaid"
    assert requests.post(url, json={"after_retries": "maybe"}, timeout=5).status_code == 400
    stripe_emulator.reset()
    assert requests.get(url, timeout=5).json()["after_retries"] == "canceled"
