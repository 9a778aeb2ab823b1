"""What real clients send beyond the bridge's paths: version header, metadata limits,
emails, error bodies, create_preview, card PaymentIntents with manual capture and 3-D
Secure, SetupIntents, payouts from the balance, Checkout in payment mode."""

from __future__ import annotations

import pytest
import requests
import stripe

from .conftest import DAY, customer_with_card, monthly_price, subscribe


def _post(handle, path: str, data=None, json=None, headers=None, key="sk_test_x"):
    all_headers = {"Authorization": f"Bearer {key}", **(headers or {})}
    return requests.post(
        handle.base_url + path, data=data, json=json, headers=all_headers, timeout=10
    )


def test_stripe_version_header(stripe_emulator) -> None:
    for bad in ("1999-01-01", "2026-02-30.clover", "latest", "2099-01-01.zeta"):
        answer = _post(stripe_emulator, "/v1/customers", headers={"Stripe-Version": bad})
        assert answer.status_code == 400, bad
        assert answer.json()["error"]["message"] == f"Invalid Stripe API version: {bad}"
    older = _post(stripe_emulator, "/v1/customers", headers={"Stripe-Version": "2024-06-20"})
    assert older.status_code == 200
    assert older.headers["Stripe-Version"] == "2024-06-20"


def test_401_has_a_request_id_and_a_log_url(stripe_emulator) -> None:
    answer = _post(stripe_emulator, "/v1/customers", key="sk_live_nope")
    assert answer.status_code == 401
    request_id = answer.headers["Request-Id"]
    assert request_id.startswith("req_")
    assert answer.json()["error"]["request_log_url"].endswith(f"?id={request_id}")


def test_metadata_limits(stripe_client) -> None:
    fifty = {f"k{i}": "v" for i in range(50)}
    customer = stripe_client.v1.customers.create({"metadata": fifty})
    assert len(customer.metadata.to_dict()) == 50
    cases = [
        ({"one_more": "v"}, "metadata"),
        ({"k" * 41: "v"}, "metadata[" + "k" * 41 + "]"),
        ({"long": "v" * 501}, "metadata[long]"),
    ]
    for metadata, param in cases:
        with pytest.raises(stripe.InvalidRequestError) as info:
            stripe_client.v1.customers.update(customer.id, {"metadata": metadata})
        assert info.value.param == param
    # Emptying a key makes room for another.
    updated = stripe_client.v1.customers.update(customer.id, {"metadata": {"k0": "", "new": "1"}})
    assert len(updated.metadata.to_dict()) == 50 and "new" in updated.metadata


def test_email_is_validated(stripe_client) -> None:
    for call in (
        lambda: stripe_client.v1.customers.create({"email": "not-an-email"}),
        lambda: stripe_client.v1.customers.update(
            stripe_client.v1.customers.create().id, {"email": "a@b"}
        ),
    ):
        with pytest.raises(stripe.InvalidRequestError) as info:
            call()
        assert info.value.code == "email_invalid"


def test_create_preview_is_not_an_invoice_update(stripe_client) -> None:
    price = monthly_price(stripe_client, 1200)
    customer = customer_with_card(stripe_client)
    sub = subscribe(stripe_client, customer, price)
    stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 300, "currency": "usd"}
    )
    preview = stripe_client.v1.invoices.create_preview({"subscription": sub.id})
    assert preview.object == "invoice" and preview.total == 1500
    assert len(stripe_client.v1.invoices.list({"customer": customer.id}).data) == 1


def test_manual_capture_takes_part_of_the_authorisation(stripe_client) -> None:
    pi = stripe_client.v1.payment_intents.create(
        {
            "amount": 2000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "payment_method_types": ["card"],
            "capture_method": "manual",
            "confirm": True,
        }
    )
    assert (pi.status, pi.amount_capturable, pi.amount_received) == ("requires_capture", 2000, 0)
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 2001})
    captured = stripe_client.v1.payment_intents.capture(pi.id, {"amount_to_capture": 1500})
    assert (captured.status, captured.amount_received) == ("succeeded", 1500)
    charge = stripe_client.v1.charges.retrieve(captured.latest_charge)
    assert (charge.captured, charge.amount_captured, charge.amount_refunded) == (True, 1500, 500)
    types = [e.type for e in stripe_client.v1.events.list({"limit": 20}).data]
    assert "payment_intent.amount_capturable_updated" in types and "charge.captured" in types


def test_payment_intent_3ds_fails_then_succeeds(stripe_client, stripe_emulator) -> None:
    pi = stripe_client.v1.payment_intents.create(
        {
            "amount": 700,
            "currency": "usd",
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    assert pi.status == "requires_action" and pi.next_action.type == "use_stripe_sdk"
    control = f"/_emulator/payment_intents/{pi.id}/authenticate"
    failed = _post(stripe_emulator, control, json={"result": "fail"}).json()
    assert failed["status"] == "requires_payment_method"
    assert failed["last_payment_error"]["code"] == "payment_intent_authentication_failure"
    again = stripe_client.v1.payment_intents.confirm(pi.id)
    assert again.status == "requires_action"
    done = _post(stripe_emulator, control, json={"result": "succeed"}).json()
    assert done["status"] == "succeeded" and done["amount_received"] == 700
    # Off session the same card is declined: nobody is there to authenticate.
    off = stripe_client.v1.customers.create()
    card = stripe_client.v1.payment_methods.attach(
        "pm_card_authenticationRequired", {"customer": off.id}
    )
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.payment_intents.create(
            {
                "amount": 700,
                "currency": "usd",
                "customer": off.id,
                "payment_method": card.id,
                "off_session": True,
                "confirm": True,
            }
        )
    assert info.value.code == "authentication_required"


def test_invoice_paid_with_a_3ds_card_waits_for_authentication(
    stripe_client, stripe_emulator
) -> None:
    customer = stripe_client.v1.customers.create()
    card = stripe_client.v1.payment_methods.attach(
        "pm_card_threeDSecure2Required", {"customer": customer.id}
    )
    stripe_client.v1.invoice_items.create(
        {"customer": customer.id, "amount": 900, "currency": "usd"}
    )
    invoice = stripe_client.v1.invoices.create(
        {"customer": customer.id, "pending_invoice_items_behavior": "include"}
    )
    with pytest.raises(stripe.CardError) as info:
        stripe_client.v1.invoices.pay(invoice.id, {"payment_method": card.id})
    assert info.value.code == "invoice_payment_intent_requires_action"
    pi_id = info.value.error.payment_intent["id"]
    assert stripe_client.v1.payment_intents.retrieve(pi_id).status == "requires_action"
    assert stripe_client.v1.events.list({"type": "invoice.payment_action_required"}).data
    _post(stripe_emulator, f"/_emulator/payment_intents/{pi_id}/authenticate", json={})
    paid = stripe_client.v1.invoices.retrieve(invoice.id)
    assert (paid.status, paid.amount_paid) == ("paid", 900)


def test_setup_intents(stripe_client, stripe_emulator) -> None:
    customer = stripe_client.v1.customers.create()
    seti = stripe_client.v1.setup_intents.create(
        {"customer": customer.id, "payment_method": "pm_card_visa", "confirm": True}
    )
    assert seti.status == "succeeded"
    assert stripe_client.v1.payment_methods.retrieve(seti.payment_method).customer == customer.id

    secure = stripe_client.v1.setup_intents.create(
        {
            "customer": customer.id,
            "payment_method": "pm_card_authenticationRequired",
            "confirm": True,
        }
    )
    assert secure.status == "requires_action"
    control = f"/_emulator/setup_intents/{secure.id}/authenticate"
    failed = _post(stripe_emulator, control, json={"result": "fail"}).json()
    assert failed["status"] == "requires_payment_method"
    assert failed["last_setup_error"]["code"] == "setup_intent_authentication_failure"
    canceled = stripe_client.v1.setup_intents.cancel(
        secure.id, {"cancellation_reason": "abandoned"}
    )
    assert (canceled.status, canceled.cancellation_reason) == ("canceled", "abandoned")
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.setup_intents.confirm(secure.id)

    declined = stripe_client.v1.setup_intents.create({"customer": customer.id})
    assert declined.status == "requires_payment_method"
    refused = stripe_client.v1.payment_methods.create(
        {"type": "card", "card": {"number": "4000000000000002", "exp_month": 1, "exp_year": 2040}}
    )
    with pytest.raises(stripe.CardError):
        stripe_client.v1.setup_intents.confirm(declined.id, {"payment_method": refused.id})
    failed_setup = stripe_client.v1.setup_intents.retrieve(declined.id)
    assert failed_setup.status == "requires_payment_method"
    assert failed_setup.last_setup_error.decline_code == "generic_decline"


def test_payouts_come_from_the_available_balance(stripe_client, stripe_emulator) -> None:
    with pytest.raises(stripe.InvalidRequestError) as info:
        stripe_client.v1.payouts.create({"amount": 100, "currency": "usd"})
    assert info.value.code == "balance_insufficient"
    for card in ("pm_card_visa", "pm_card_bypassPending"):
        stripe_client.v1.payment_intents.create(
            {"amount": 2000, "currency": "usd", "payment_method": card, "confirm": True}
        )
    payout = stripe_client.v1.payouts.create({"amount": 1100, "currency": "usd"})
    assert payout.status == "pending"
    with pytest.raises(stripe.InvalidRequestError):  # the visa charge is still pending
        stripe_client.v1.payouts.create({"amount": 1000, "currency": "usd"})
    stripe_emulator.advance(2 * DAY)
    assert stripe_client.v1.payouts.retrieve(payout.id).status == "paid"
    assert stripe_client.v1.payouts.create({"amount": 2900, "currency": "usd"}).amount == 2900


def test_checkout_in_payment_mode(stripe_client) -> None:
    product = stripe_client.v1.products.create({"name": "Ticket"})
    price = stripe_client.v1.prices.create(
        {"product": product.id, "unit_amount": 1500, "currency": "usd"}
    )
    session = stripe_client.v1.checkout.sessions.create(
        {
            "mode": "payment",
            "line_items": [{"price": price.id, "quantity": 2}],
            "success_url": "https://example.com/ok",
            "customer_email": "buyer@example.com",
        }
    )
    page = requests.post(
        session.url,
        data={"number": "4242424242424242", "exp_month": "1", "exp_year": "2040"},
        allow_redirects=False,
        timeout=10,
    )
    assert page.status_code == 303
    done = stripe_client.v1.checkout.sessions.retrieve(session.id)
    assert (done.status, done.payment_status, done.amount_total) == ("complete", "paid", 3000)
    pi = stripe_client.v1.payment_intents.retrieve(done.payment_intent)
    assert (pi.status, pi.amount_received) == ("succeeded", 3000)
    expired = stripe_client.v1.checkout.sessions.expire(
        stripe_client.v1.checkout.sessions.create(
            {
                "mode": "payment",
                "line_items": [{"price": price.id, "quantity": 1}],
                "success_url": "https://example.com/ok",
            }
        ).id
    )
    assert expired.status == "expired"
