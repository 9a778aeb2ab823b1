"""Checkout Sessions and the hosted Checkout page, completed by a plain HTTP client."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
import stripe

from .helpers import customer_with_card, event_types, monthly_price, product

SUCCESS = "https://app.example.com/ok?session_id={CHECKOUT_SESSION_ID}"
CANCEL = "https://app.example.com/cancelled"


def _subscription_session(client, price_id: str, **extra):
    params = {
        "mode": "subscription",
        "line_items": [{"price": price_id, "quantity": 1}],
        "success_url": SUCCESS,
        "cancel_url": CANCEL,
        "client_reference_id": "row-42",
        "metadata": {"caspio_table": "Members"},
        **extra,
    }
    return client.v1.checkout.sessions.create(params=params)


def _post_card(url: str, number: str, **fields) -> requests.Response:
    form = {"number": number, "exp_month": "12", "exp_year": "34", "cvc": "123", **fields}
    return requests.post(url, data=form, allow_redirects=False, timeout=10)


def _nothing_created(client) -> None:
    assert client.v1.customers.list().data == []
    assert client.v1.subscriptions.list(params={"status": "all"}).data == []
    assert client.v1.payment_methods.list().data == []


def test_subscription_checkout_completed_by_posting_the_form(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client, "Silver").id, 3000)
    session = _subscription_session(
        client,
        price.id,
        customer_email="new@example.com",
        subscription_data={"metadata": {"caspio_id": "42"}},
    )
    assert session.url == f"{stripe_emulator.base_url}/checkout/{session.id}"
    assert session.id.startswith("cs_test_")
    assert (session.status, session.payment_status) == ("open", "unpaid")
    assert session.amount_total == 3000
    (item,) = client.v1.checkout.sessions.line_items.list(session.id).data
    assert (item.description, item.quantity, item.amount_total, item.price.id) == (
        "Silver",
        1,
        3000,
        price.id,
    )

    page = requests.get(session.url, timeout=10)
    assert page.status_code == 200
    assert "new@example.com" in page.text
    assert "30.00 USD" in page.text
    assert 'name="number"' in page.text

    done = _post_card(session.url, "4242 4242 4242 4242")
    assert done.status_code == 303
    assert done.headers["Location"] == f"https://app.example.com/ok?session_id={session.id}"

    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("complete", "paid")
    assert session.client_reference_id == "row-42"
    assert session.metadata.to_dict() == {"caspio_table": "Members"}
    customer = client.v1.customers.retrieve(session.customer)
    assert customer.email == "new@example.com"
    sub = client.v1.subscriptions.retrieve(session.subscription)
    assert sub.status == "active"
    assert sub.metadata.to_dict() == {"caspio_id": "42"}
    pm = client.v1.payment_methods.retrieve(sub.default_payment_method)
    assert (pm.card.brand, pm.card.last4, pm.customer) == ("visa", "4242", customer.id)
    invoice = client.v1.invoices.retrieve(session.invoice)
    assert (invoice.status, invoice.amount_paid) == ("paid", 3000)

    types = event_types(client, "*")
    assert types[-1] == "checkout.session.completed"
    assert types.index("customer.created") < types.index("payment_method.attached")
    assert types.index("customer.subscription.created") < types.index("checkout.session.completed")
    completed = client.v1.events.list(params={"type": "checkout.session.completed"}).data[0]
    assert completed.data.object.client_reference_id == "row-42"

    again = _post_card(session.url, "4242424242424242")
    assert again.status_code == 410
    assert "complete" in again.text


@pytest.mark.parametrize(
    "number, message",
    [
        ("4000000000000002", "Your card was declined."),
        ("4000000000009995", "Your card has insufficient funds."),
        ("4000000000000341", "Your card was declined."),
        ("4242424242424241", "Your card number is incorrect."),
    ],
)
def test_declined_card_shows_decline_and_creates_nothing(
    stripe_client, stripe_emulator, number, message
):
    client = stripe_client
    price = monthly_price(client, product(client).id, 3000)
    session = _subscription_session(client, price.id, customer_email="d@example.com")
    answer = _post_card(session.url, number)
    assert answer.status_code == 402
    assert message in answer.text
    _nothing_created(client)
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.customer, session.subscription) == ("open", None, None)
    assert event_types(client, "checkout.*") == []
    # The same session still takes a good card.
    assert _post_card(session.url, "4242424242424242").status_code == 303


def test_checkout_for_existing_customer_asks_no_email(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 1500)
    customer = client.v1.customers.create(params={"email": "known@example.com"})
    session = _subscription_session(client, price.id, customer=customer.id)
    page = requests.get(session.url, timeout=10)
    assert 'name="email"' not in page.text
    assert "known@example.com" in page.text
    assert _post_card(session.url, "5555555555554444").status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert session.customer == customer.id
    assert len(client.v1.customers.list().data) == 1


def test_customer_email_form_field_when_session_has_none(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 1500)
    session = _subscription_session(client, price.id)
    assert 'name="email"' in requests.get(session.url, timeout=10).text
    assert _post_card(session.url, "4242424242424242").status_code == 402
    done = _post_card(session.url, "4242424242424242", email="typed@example.com")
    assert done.status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert client.v1.customers.retrieve(session.customer).email == "typed@example.com"
    assert session.customer_details.email == "typed@example.com"


def test_setup_mode_saves_the_card(stripe_client, stripe_emulator):
    client = stripe_client
    customer = client.v1.customers.create(params={"email": "s@example.com"})
    session = client.v1.checkout.sessions.create(
        params={
            "mode": "setup",
            "currency": "usd",
            "customer": customer.id,
            "success_url": SUCCESS,
            "cancel_url": CANCEL,
        }
    )
    assert session.payment_status == "no_payment_required"
    assert client.v1.setup_intents.retrieve(session.setup_intent).status == (
        "requires_payment_method"
    )
    assert _post_card(session.url, "4000000000000002").status_code == 402
    assert client.v1.payment_methods.list().data == []
    # The session-wide emulator clock may be years ahead after other tests: a card that
    # expires 5 years after *its* today, never a fixed year that can read as expired.
    exp_year = dt.datetime.fromtimestamp(stripe_emulator.now(), dt.timezone.utc).year + 5
    done = _post_card(session.url, "4000056655665556", exp_month="7", exp_year=str(exp_year))
    assert done.status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.subscription) == ("complete", None)
    cards = client.v1.customers.payment_methods.list(customer.id).data
    assert [(c.card.last4, c.card.funding, c.card.exp_month) for c in cards] == [
        ("5556", "debit", 7)
    ]
    assert client.v1.subscriptions.list(params={"status": "all"}).data == []
    seti = client.v1.setup_intents.retrieve(session.setup_intent)
    assert (seti.status, seti.customer, seti.payment_method) == (
        "succeeded",
        customer.id,
        cards[0].id,
    )
    assert event_types(client, "setup_intent.*") == [
        "setup_intent.created",
        "setup_intent.succeeded",
    ]


def test_session_expires_with_the_clock(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 1500)
    now = stripe_emulator.now()
    session = _subscription_session(
        client, price.id, expires_at=now + 3600, customer_email="late@example.com"
    )
    stripe_emulator.advance(3599)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "open"
    stripe_emulator.advance(1)
    assert client.v1.checkout.sessions.retrieve(session.id).status == "expired"
    assert event_types(client, "checkout.session.*") == ["checkout.session.expired"]
    page = requests.get(session.url, timeout=10)
    assert "expired" in page.text
    answer = _post_card(session.url, "4242424242424242")
    assert answer.status_code == 410
    _nothing_created(client)


def test_expire_by_api_and_validation(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 1500)
    session = _subscription_session(client, price.id)
    expired = client.v1.checkout.sessions.expire(session.id)
    assert expired.status == "expired"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.checkout.sessions.expire(session.id)
    with pytest.raises(stripe.InvalidRequestError) as info:
        _subscription_session(client, price.id, expires_at=stripe_emulator.now() + 60)
    assert info.value.param == "expires_at"
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.checkout.sessions.create(params={"mode": "subscription", "success_url": SUCCESS})
    assert info.value.param == "line_items"


def test_unknown_session_page_is_404(stripe_emulator):
    answer = requests.get(f"{stripe_emulator.base_url}/checkout/cs_test_nope", timeout=10)
    assert answer.status_code == 404


def test_portal_replaces_default_card(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 2000)
    customer = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        params={
            "customer": customer.id,
            "items": [{"price": price.id}],
            "default_payment_method": customer.invoice_settings.default_payment_method,
        }
    )
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://app.example.com/account"}
    )
    assert portal.url == f"{stripe_emulator.base_url}/portal/{portal.id}"
    page = requests.get(portal.url, timeout=10)
    assert page.status_code == 200
    assert "visa ending in 4242" in page.text

    refused = _post_card(portal.url, "4000000000000002")
    assert refused.status_code == 402
    assert "Your card was declined." in refused.text
    assert client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method == (
        customer.invoice_settings.default_payment_method
    )

    before = len(event_types(client, "*"))
    done = _post_card(portal.url, "5555555555554444")
    assert done.status_code == 303
    assert done.headers["Location"] == "https://app.example.com/account"
    new_default = client.v1.customers.retrieve(customer.id).invoice_settings.default_payment_method
    pm = client.v1.payment_methods.retrieve(new_default)
    assert (pm.card.brand, pm.card.last4) == ("mastercard", "4444")
    assert client.v1.subscriptions.retrieve(sub.id).default_payment_method == new_default
    new_types = event_types(client, "*")[before:]
    assert new_types[:2] == ["payment_method.attached", "customer.updated"]
    assert "mastercard ending in 4444" in requests.get(portal.url, timeout=10).text

    stripe_emulator.advance(
        client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end
        - stripe_emulator.now()
    )
    charges = client.v1.charges.list(params={"customer": customer.id}).data
    assert client.v1.payment_methods.retrieve(charges[0].payment_method).card.last4 == "4444"


def test_completed_event_reaches_a_webhook_endpoint_signed(stripe_client, stripe_emulator):
    import http.server
    import threading

    received: list[tuple[bytes, str]] = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((body, self.headers["Stripe-Signature"]))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        stripe_emulator.emulator.add_webhook_endpoint(
            f"http://127.0.0.1:{server.server_port}/hook",
            secret="whsec_flows",
            events=["checkout.session.completed"],
        )
        client = stripe_client
        price = monthly_price(client, product(client).id, 1000)
        session = _subscription_session(client, price.id, customer_email="w@example.com")
        assert _post_card(session.url, "4242424242424242").status_code == 303
        assert stripe_emulator.wait_idle(10)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    assert len(received) == 1
    body, signature = received[0]
    event = stripe.Webhook.construct_event(body, signature, "whsec_flows")
    assert event.type == "checkout.session.completed"
    assert event.data.object.id == session.id
    assert event.data.object.subscription


def test_checkout_with_trial_needs_no_payment_today(stripe_client, stripe_emulator):
    client = stripe_client
    price = monthly_price(client, product(client).id, 4000)
    session = _subscription_session(
        client,
        price.id,
        customer_email="trial@example.com",
        subscription_data={"trial_period_days": 14, "description": "Gold, trial first"},
    )
    assert _post_card(session.url, "4242424242424242").status_code == 303
    session = client.v1.checkout.sessions.retrieve(session.id)
    assert (session.status, session.payment_status) == ("complete", "no_payment_required")
    sub = client.v1.subscriptions.retrieve(session.subscription)
    assert (sub.status, sub.description) == ("trialing", "Gold, trial first")
    assert client.v1.invoices.retrieve(session.invoice).amount_paid == 0
    stripe_emulator.advance(14 * 86400)
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    charges = client.v1.charges.list(params={"customer": session.customer}).data
    assert [c.amount for c in charges] == [4000]


def test_past_expiry_is_refused_and_trial_accepts_a_card_that_fails_later(
    stripe_client, stripe_emulator
):
    client = stripe_client
    price = monthly_price(client, product(client).id, 4000)
    session = _subscription_session(client, price.id, customer_email="x@example.com")
    refused = _post_card(session.url, "4242424242424242", exp_month="1", exp_year="2001")
    assert refused.status_code == 402
    assert "expiration year is invalid" in refused.text
    _nothing_created(client)

    trial = _subscription_session(
        client, price.id, customer_email="t@example.com", subscription_data={"trial_period_days": 7}
    )
    assert _post_card(trial.url, "4000000000000341").status_code == 303
    sub_id = client.v1.checkout.sessions.retrieve(trial.id).subscription
    stripe_emulator.advance(7 * 86400)
    assert client.v1.subscriptions.retrieve(sub_id).status == "past_due"
