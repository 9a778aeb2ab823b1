"""Invoice items and one-off invoices; pausing collection; trials that end without a
payment method (paused, then resumed)."""

from __future__ import annotations

import pytest
import stripe

from .conftest import DAY, customer_with_card, monthly_price, subscribe


def _item(client: stripe.StripeClient, customer: str, amount: int) -> stripe.InvoiceItem:
    return client.v1.invoice_items.create(
        {"customer": customer, "amount": amount, "currency": "usd"}
    )


def test_one_off_invoice_lifecycle(stripe_client) -> None:
    client = stripe_client
    customer = customer_with_card(client)
    first, second = _item(client, customer.id, 2000), _item(client, customer.id, 550)
    empty = client.v1.invoices.create({"customer": customer.id})  # exclude is the default
    assert (empty.total, empty.lines.data) == (0, [])
    client.v1.invoices.delete(empty.id)

    draft = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert (draft.status, draft.total, draft.billing_reason) == ("draft", 2550, "manual")
    assert {line.parent.invoice_item_details.invoice_item for line in draft.lines.data} == {
        first.id,
        second.id,
    }
    # Deleting the draft puts its items back in the pending pile.
    client.v1.invoices.delete(draft.id)
    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data
    assert {i.id for i in pending} == {first.id, second.id}
    client.v1.invoice_items.delete(second.id)

    invoice = client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    assert invoice.total == 2000
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoices.send_invoice(invoice.id)  # charge_automatically is never sent
    opened = client.v1.invoices.finalize_invoice(invoice.id)
    assert opened.status == "open" and opened.number
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.invoice_items.delete(first.id)  # on a finalized invoice
    uncollectible = client.v1.invoices.mark_uncollectible(invoice.id)
    assert uncollectible.status == "uncollectible"
    assert client.v1.invoices.void_invoice(invoice.id).status == "void"


def test_send_invoice_gets_a_due_date_and_pay_works(stripe_client) -> None:
    client = stripe_client
    customer = customer_with_card(client)
    _item(client, customer.id, 1200)
    invoice = client.v1.invoices.create(
        {
            "customer": customer.id,
            "pending_invoice_items_behavior": "include",
            "collection_method": "send_invoice",
            "days_until_due": 7,
        }
    )
    sent = client.v1.invoices.send_invoice(invoice.id)
    assert sent.status == "open" and sent.due_date == sent.status_transitions.finalized_at + 7 * DAY
    paid = client.v1.invoices.pay(invoice.id)
    assert (paid.status, paid.amount_paid) == ("paid", 1200)
    types = [e.type for e in client.v1.events.list({"limit": 30}).data]
    assert {"invoice.sent", "invoice.paid", "invoiceitem.created"} <= set(types)


def test_pending_items_ride_on_the_next_renewal(stripe_client, stripe_emulator) -> None:
    client = stripe_client
    price = monthly_price(client, 1000)
    customer = customer_with_card(client)
    sub = subscribe(client, customer, price)
    item = _item(client, customer.id, 250)
    stripe_emulator.advance(32 * DAY)
    renewal = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (renewal.total, renewal.amount_paid, renewal.status) == (1250, 1250, "paid")
    assert client.v1.invoice_items.retrieve(item.id).invoice == renewal.id


def test_pause_collection_keeps_renewals_as_drafts(stripe_client, stripe_emulator) -> None:
    client = stripe_client
    price = monthly_price(client, 1000)
    sub = subscribe(client, customer_with_card(client), price)
    paused = client.v1.subscriptions.update(
        sub.id, {"pause_collection": {"behavior": "keep_as_draft"}}
    )
    assert paused.pause_collection.behavior == "keep_as_draft" and paused.status == "active"
    stripe_emulator.advance(32 * DAY)
    draft = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (draft.status, draft.amount_paid) == ("draft", 0)
    client.v1.subscriptions.update(sub.id, {"pause_collection": ""})
    stripe_emulator.advance(31 * DAY)
    charged = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert (charged.status, charged.amount_paid) == ("paid", 1000)


def test_trial_without_a_card_pauses_then_resumes(stripe_client) -> None:
    client = stripe_client
    price = monthly_price(client, 1500)
    customer = client.v1.customers.create()
    sub = subscribe(
        client,
        customer,
        price,
        trial_period_days=7,
        trial_settings={"end_behavior": {"missing_payment_method": "pause"}},
    )
    assert sub.status == "trialing"
    paused = client.v1.subscriptions.update(sub.id, {"trial_end": "now"})
    assert paused.status == "paused"
    assert len(client.v1.invoices.list({"subscription": sub.id}).data) == 1  # the $0 trial one
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscriptions.resume(
            subscribe(client, customer_with_card(client), price).id
        )  # only a paused subscription resumes
    card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    resumed = client.v1.subscriptions.resume(sub.id)
    assert resumed.status == "active"
    latest = client.v1.invoices.retrieve(resumed.latest_invoice)
    assert (latest.status, latest.amount_paid) == ("paid", 1500)
    types = [e.type for e in client.v1.events.list({"limit": 50}).data]
    assert "customer.subscription.paused" in types and "customer.subscription.resumed" in types


def test_short_trial_is_warned_at_once(stripe_client) -> None:
    sub = subscribe(
        stripe_client,
        customer_with_card(stripe_client),
        monthly_price(stripe_client),
        trial_period_days=1,
    )
    warned = stripe_client.v1.events.list({"type": "customer.subscription.trial_will_end"}).data
    assert [e.data.object.id for e in warned] == [sub.id]
