"""The issue's "done when" flows, driven through stripe-python 16's StripeClient."""

from __future__ import annotations

import pytest
import stripe

from .conftest import DAY, customer_with_card, event_types, monthly_price, subscribe


def test_signup_with_good_card_is_active_and_paid(stripe_client: stripe.StripeClient) -> None:
    price = monthly_price(stripe_client, 1500)
    customer = customer_with_card(stripe_client)

    sub = subscribe(stripe_client, customer, price, expand=["latest_invoice"])

    assert sub.status == "active"
    invoice = sub.latest_invoice
    assert invoice.status == "paid"
    assert invoice.billing_reason == "subscription_create"
    assert (invoice.amount_due, invoice.amount_paid, invoice.amount_remaining) == (1500, 1500, 0)
    assert invoice.parent.subscription_details.subscription == sub.id
    assert invoice.attempt_count == 1 and invoice.attempted is True
    assert invoice.hosted_invoice_url.startswith("http://127.0.0.1:")
    item = sub["items"].data[0]
    assert item.price.id == price.id
    assert item.current_period_end > item.current_period_start
    assert invoice.lines.data[0].period.end == item.current_period_end
    types = event_types(stripe_client)
    assert types.index("customer.subscription.created") < types.index("invoice.created")
    for expected in (
        "invoice.finalized",
        "payment_intent.created",
        "charge.succeeded",
        "payment_intent.succeeded",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice_payment.paid",
    ):
        assert expected in types


def test_error_if_incomplete_with_declined_card_creates_nothing(
    stripe_client: stripe.StripeClient,
) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    events_before = event_types(stripe_client)

    with pytest.raises(stripe.CardError) as caught:
        subscribe(stripe_client, customer, price, payment_behavior="error_if_incomplete")

    assert caught.value.http_status == 402
    assert caught.value.code == "card_declined"
    assert caught.value.error.decline_code == "generic_decline"
    assert stripe_client.v1.subscriptions.list({"status": "all"}).data == []
    assert stripe_client.v1.invoices.list().data == []
    assert stripe_client.v1.customers.retrieve(customer.id).to_dict() == customer.to_dict()
    assert event_types(stripe_client) == events_before


def test_allow_incomplete_with_declined_card_is_incomplete(
    stripe_client: stripe.StripeClient,
) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclinedInsufficientFunds")

    sub = subscribe(stripe_client, customer, price, expand=["latest_invoice.payments"])

    assert sub.status == "incomplete"
    invoice = sub.latest_invoice
    assert invoice.status == "open" and invoice.attempt_count == 1
    assert invoice.next_payment_attempt is None  # first invoices are not retried
    pi = stripe_client.v1.payment_intents.retrieve(invoice.payments.data[0].payment.payment_intent)
    assert pi.last_payment_error.decline_code == "insufficient_funds"
    charge = stripe_client.v1.charges.retrieve(pi.latest_charge)
    assert (charge.status, charge.failure_code) == ("failed", "card_declined")
    assert charge.failure_message == "Your card has insufficient funds."
    types = event_types(stripe_client)
    assert {"charge.failed", "payment_intent.payment_failed", "invoice.payment_failed"} <= set(
        types
    )


def test_default_incomplete_leaves_payment_intent_unconfirmed(
    stripe_client: stripe.StripeClient,
) -> None:
    price = monthly_price(stripe_client)
    customer = stripe_client.v1.customers.create({"email": "new@example.com"})

    sub = subscribe(
        stripe_client,
        customer,
        price,
        payment_behavior="default_incomplete",
        expand=["latest_invoice.confirmation_secret", "latest_invoice.payments"],
    )

    assert sub.status == "incomplete"
    invoice = sub.latest_invoice
    assert invoice.status == "open" and invoice.attempt_count == 0
    pi_id = invoice.payments.data[0].payment.payment_intent
    assert invoice.confirmation_secret.client_secret.startswith(pi_id + "_secret_")
    pi = stripe_client.v1.payment_intents.retrieve(pi_id)
    assert pi.status == "requires_payment_method"
    assert stripe_client.v1.charges.list().data == []

    # The payment page confirms the intent: the invoice is paid and the subscription active.
    stripe_client.v1.payment_intents.confirm(pi_id, {"payment_method": "pm_card_visa"})
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    assert stripe_client.v1.invoices.retrieve(invoice.id).status == "paid"


def test_renewal_after_a_month_is_paid(stripe_emulator, stripe_client: stripe.StripeClient) -> None:
    price = monthly_price(stripe_client, 2500)
    customer = customer_with_card(stripe_client)
    sub = subscribe(stripe_client, customer, price)
    first_end = sub["items"].data[0].current_period_end

    stripe_emulator.advance(31 * DAY)

    sub = stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "active"
    invoice = sub.latest_invoice
    assert invoice.billing_reason == "subscription_cycle"
    assert (invoice.status, invoice.amount_paid) == ("paid", 2500)
    assert invoice.lines.data[0].period.start == first_end
    assert sub["items"].data[0].current_period_start == first_end
    invoices = stripe_client.v1.invoices.list({"subscription": sub.id})
    assert [i.billing_reason for i in invoices.data] == [
        "subscription_cycle",
        "subscription_create",
    ]
    updated = stripe_client.v1.events.list({"type": "customer.subscription.updated"}).data[0]
    assert "items" in updated.data.previous_attributes
    assert "latest_invoice" in updated.data.previous_attributes


def test_declined_renewal_goes_past_due_then_pay_recovers(
    stripe_emulator, stripe_client: stripe.StripeClient
) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeCustomerFail")
    good = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    sub = subscribe(stripe_client, customer, price, default_payment_method=good.id)
    assert sub.status == "active"
    # The card on the subscription is replaced by one that attaches but cannot be charged.
    failing = customer.invoice_settings.default_payment_method
    stripe_client.v1.subscriptions.update(sub.id, {"default_payment_method": failing})

    stripe_emulator.advance(sub["items"].data[0].current_period_end - stripe_emulator.now())

    sub = stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "past_due"
    invoice = sub.latest_invoice
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert invoice.next_payment_attempt == invoice.created + DAY  # first retry of [1d, 3d, 5d]
    past_due = stripe_client.v1.events.list({"type": "customer.subscription.updated"}).data[0]
    assert past_due.data.object.status == "past_due"
    assert past_due.data.previous_attributes.status == "active"

    with pytest.raises(stripe.CardError) as caught:
        stripe_client.v1.invoices.pay(invoice.id)
    assert caught.value.code == "card_declined"
    assert caught.value.error.payment_intent.status == "requires_payment_method"
    assert stripe_client.v1.invoices.retrieve(invoice.id).attempt_count == 1  # manual: no count

    new_card = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    stripe_client.v1.subscriptions.update(sub.id, {"default_payment_method": new_card.id})
    paid = stripe_client.v1.invoices.pay(invoice.id)

    assert paid.status == "paid" and paid.next_payment_attempt is None
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_pay_with_explicit_payment_method(stripe_client: stripe.StripeClient) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    sub = subscribe(stripe_client, customer, price)
    assert sub.status == "incomplete"
    card = stripe_client.v1.payment_methods.attach("pm_card_mastercard", {"customer": customer.id})

    invoice = stripe_client.v1.invoices.pay(sub.latest_invoice, {"payment_method": card.id})

    assert invoice.status == "paid"
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "active"
    with pytest.raises(stripe.InvalidRequestError, match="already paid"):
        stripe_client.v1.invoices.pay(invoice.id)


def test_subscription_without_any_payment_method_is_refused(
    stripe_client: stripe.StripeClient,
) -> None:
    price = monthly_price(stripe_client)
    customer = stripe_client.v1.customers.create({"email": "nocard@example.com"})
    with pytest.raises(stripe.InvalidRequestError, match="no attached payment source"):
        subscribe(stripe_client, customer, price)
    assert stripe_client.v1.subscriptions.list({"status": "all"}).data == []


def test_cancel_now_and_at_period_end(stripe_emulator, stripe_client: stripe.StripeClient) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client)
    now_sub = subscribe(stripe_client, customer, price)
    later_sub = subscribe(stripe_client, customer, price, metadata={"k": "v"})

    canceled = stripe_client.v1.subscriptions.cancel(now_sub.id)
    assert canceled.status == "canceled"
    assert canceled.cancellation_details.reason == "cancellation_requested"
    assert canceled.ended_at == stripe_emulator.now()
    assert (
        stripe_client.v1.events.list({"type": "customer.subscription.deleted"})
        .data[0]
        .data.object.id
        == now_sub.id
    )

    pending = stripe_client.v1.subscriptions.update(later_sub.id, {"cancel_at_period_end": True})
    assert (
        pending.status == "active"
        and pending.cancel_at == pending["items"].data[0].current_period_end
    )
    stripe_emulator.advance(31 * DAY)
    ended = stripe_client.v1.subscriptions.retrieve(later_sub.id)
    assert ended.status == "canceled"
    assert ended.ended_at == pending.cancel_at
    assert len(stripe_client.v1.invoices.list({"subscription": later_sub.id}).data) == 1
    assert stripe_client.v1.subscriptions.list().data == []
    assert len(stripe_client.v1.subscriptions.list({"status": "canceled"}).data) == 2


def test_trial_then_first_charge(stripe_emulator, stripe_client: stripe.StripeClient) -> None:
    price = monthly_price(stripe_client, 900)
    customer = customer_with_card(stripe_client)
    sub = subscribe(stripe_client, customer, price, trial_period_days=14, expand=["latest_invoice"])
    assert sub.status == "trialing"
    assert sub.latest_invoice.amount_due == 0 and sub.latest_invoice.status == "paid"
    assert sub.trial_end == sub["items"].data[0].current_period_end

    stripe_emulator.advance(11 * DAY - 1)
    assert not stripe_client.v1.events.list({"type": "customer.subscription.trial_will_end"}).data
    stripe_emulator.advance(1)
    warned = stripe_client.v1.events.list({"type": "customer.subscription.trial_will_end"}).data
    assert [e.data.object.id for e in warned] == [sub.id]
    stripe_emulator.advance(3 * DAY)

    sub = stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "active"
    assert (sub.latest_invoice.amount_paid, sub.latest_invoice.billing_reason) == (
        900,
        "subscription_cycle",
    )
