"""Stripe's wire format: auth, form encoding, lists, expand, errors, idempotency, controls."""

from __future__ import annotations

import pytest
import requests
import stripe

from sandbox.stripe.forms import decode

from .conftest import customer_with_card, monthly_price


def test_decode_nested_form_keys() -> None:
    pairs = [
        ("items[0][price]", "price_a"),
        ("items[0][metadata][k]", "v"),
        ("items[1][price]", "price_b"),
        ("expand[]", "customer"),
        ("expand[]", "latest_invoice"),
        ("metadata[caspio_key]", "42"),
        ("email", "a@b.c"),
    ]
    assert decode(pairs) == {
        "items": [{"price": "price_a", "metadata": {"k": "v"}}, {"price": "price_b"}],
        "expand": ["customer", "latest_invoice"],
        "metadata": {"caspio_key": "42"},
        "email": "a@b.c",
    }


def _raw(handle, method: str, path: str, key: str | None = "sk_test_x", **kwargs):
    headers = kwargs.pop("headers", {})
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return requests.request(method, handle.base_url + path, headers=headers, timeout=5, **kwargs)


def test_api_keys(stripe_emulator) -> None:
    assert _raw(stripe_emulator, "GET", "/v1/customers").status_code == 200
    assert _raw(stripe_emulator, "GET", "/v1/customers", key="rk_test_abc").status_code == 200
    for key in (None, "sk_live_abc", "pk_test_abc"):
        answer = _raw(stripe_emulator, "GET", "/v1/customers", key=key)
        assert answer.status_code == 401
        assert answer.json()["error"]["type"] == "invalid_request_error"
    basic = requests.get(
        stripe_emulator.base_url + "/v1/customers", auth=("sk_test_y", ""), timeout=5
    )
    assert basic.status_code == 200
    bad = stripe.StripeClient("sk_live_nope", base_addresses={"api": stripe_emulator.base_url})
    with pytest.raises(stripe.AuthenticationError):
        bad.v1.customers.list()


def test_curl_style_form_and_version_header(stripe_emulator) -> None:
    answer = _raw(
        stripe_emulator,
        "POST",
        "/v1/customers",
        data={"email": "c@example.com", "metadata[a]": "1", "expand[]": "invoice_settings"},
        headers={"Stripe-Version": "2025-03-31.basil"},
    )
    assert answer.status_code == 200
    assert answer.headers["Stripe-Version"] == "2025-03-31.basil"
    assert answer.headers["Request-Id"].startswith("req_")
    assert answer.json()["metadata"] == {"a": "1"}


def test_error_shapes(stripe_emulator, stripe_client) -> None:
    missing = _raw(stripe_emulator, "GET", "/v1/customers/cus_nope")
    assert missing.status_code == 404
    error = missing.json()["error"]
    request_id = missing.headers["Request-Id"]
    assert error.pop("request_log_url") == (
        f"{stripe_emulator.base_url}/_emulator/requests?id={request_id}"
    )
    logged = requests.get(
        f"{stripe_emulator.base_url}/_emulator/requests", params={"id": request_id}, timeout=10
    ).json()
    assert logged == {
        "id": request_id,
        "method": "GET",
        "path": "/v1/customers/cus_nope",
        "status": 404,
    }
    assert error == {
        "type": "invalid_request_error",
        "message": "No such customer: 'cus_nope'",
        "code": "resource_missing",
        "param": "id",
        "doc_url": "https://stripe.com/docs/error-codes/resource-missing",
    }
    route = _raw(stripe_emulator, "GET", "/v1/nothing_here")
    assert (
        route.status_code == 404 and "Unrecognized request URL" in route.json()["error"]["message"]
    )
    with pytest.raises(stripe.InvalidRequestError) as caught:
        stripe_client.v1.customers.create({"colour": "red"})  # type: ignore[typeddict-unknown-key]
    assert (caught.value.code, caught.value.param) == ("parameter_unknown", "colour")
    customer = stripe_client.v1.customers.create()
    card = stripe_client.v1.payment_methods.create(
        {"type": "card", "card": {"number": "4000000000009995", "exp_month": 1, "exp_year": 2031}}
    )
    with pytest.raises(stripe.CardError) as declined:
        stripe_client.v1.payment_methods.attach(card.id, {"customer": customer.id})
    assert declined.value.http_status == 402 and declined.value.code == "card_declined"
    assert declined.value.error.decline_code == "insufficient_funds"


def test_list_pagination(stripe_client) -> None:
    ids = [stripe_client.v1.customers.create({"email": f"p{i}@example.com"}).id for i in range(5)]
    page = stripe_client.v1.customers.list({"limit": 2})
    assert [c.id for c in page.data] == ids[::-1][:2] and page.has_more
    page2 = stripe_client.v1.customers.list({"limit": 2, "starting_after": page.data[-1].id})
    assert [c.id for c in page2.data] == ids[::-1][2:4]
    back = stripe_client.v1.customers.list({"limit": 2, "ending_before": page2.data[0].id})
    assert [c.id for c in back.data] == [c.id for c in page.data]
    everything = [c.id for c in stripe_client.v1.customers.list({"limit": 2}).auto_paging_iter()]
    assert everything == ids[::-1]
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.list({"limit": 101})


def test_expand_paths(stripe_client) -> None:
    customer = customer_with_card(stripe_client)
    price = monthly_price(stripe_client)
    sub = stripe_client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "expand": [
                "customer.invoice_settings.default_payment_method",
                "items.data.price.product",
                "latest_invoice.payments.data.payment.payment_intent",
            ],
        }
    )
    assert sub.customer.invoice_settings.default_payment_method.card.last4 == "4242"
    assert sub["items"].data[0].price.product.name == "Gold plan"
    pi = sub.latest_invoice.payments.data[0].payment.payment_intent
    assert pi.status == "succeeded" and pi.amount == 1500
    listed = stripe_client.v1.subscriptions.list({"expand": ["data.customer"]})
    assert listed.data[0].customer.id == customer.id
    with pytest.raises(stripe.InvalidRequestError, match="cannot be expanded"):
        stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["nonsense"]})


def test_idempotent_replay_and_mismatch(stripe_emulator, stripe_client) -> None:
    options = {"idempotency_key": "signup-1"}
    first = stripe_client.v1.customers.create({"email": "i@example.com"}, options=options)
    again = stripe_client.v1.customers.create({"email": "i@example.com"}, options=options)
    assert again.id == first.id
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert len(stripe_client.v1.customers.list().data) == 1
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.customers.create({"email": "other@example.com"}, options=options)
    with pytest.raises(stripe.IdempotencyError):
        stripe_client.v1.products.create({"name": "x"}, options=options)


def test_idempotent_replay_of_a_decline(stripe_client) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    params = {
        "customer": customer.id,
        "items": [{"price": price.id}],
        "payment_behavior": "error_if_incomplete",
    }
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as caught:
            stripe_client.v1.subscriptions.create(params, options={"idempotency_key": "k402"})
        errors.append(caught.value)
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert errors[0].json_body == errors[1].json_body


def test_idempotency_keys_expire_after_a_day(stripe_emulator, stripe_client) -> None:
    first = stripe_client.v1.customers.create(options={"idempotency_key": "old"})
    stripe_emulator.advance(24 * 3600)
    second = stripe_client.v1.customers.create(options={"idempotency_key": "old"})
    assert second.id != first.id


def test_injected_api_faults(stripe_emulator, stripe_client) -> None:
    stripe_emulator.emulator.inject_api_fault(429, count=1, method="GET", path="/v1/customers")
    with pytest.raises(stripe.RateLimitError):
        stripe_client.v1.customers.list()
    assert stripe_client.v1.customers.list().data == []
    requests.post(
        f"{stripe_emulator.base_url}/_emulator/api_faults",
        json={"status": 409, "path": "/v1/customers/{id}"},
        timeout=5,
    )
    customer = stripe_client.v1.customers.create()
    with pytest.raises(stripe.StripeError) as caught:
        stripe_client.v1.customers.retrieve(customer.id)
    assert caught.value.http_status == 409
    retried = stripe.StripeClient(
        stripe_emulator.api_key,
        max_network_retries=2,
        base_addresses={"api": stripe_emulator.base_url},
    )
    stripe_emulator.emulator.inject_api_fault(500, count=1)
    assert retried.v1.customers.retrieve(customer.id).id == customer.id


def test_rate_limit_option() -> None:
    from sandbox.stripe import run_emulator

    with run_emulator(rate_limit=5) as handle:
        client = stripe.StripeClient(handle.api_key, base_addresses={"api": handle.base_url})
        answers = []
        for _ in range(10):
            try:
                client.v1.customers.list()
                answers.append(200)
            except stripe.RateLimitError as error:
                answers.append(error.http_status)
        assert answers.count(429) >= 4 and answers[0] == 200


def test_request_counter_and_reset(stripe_emulator, stripe_client) -> None:
    customer = stripe_client.v1.customers.create()
    stripe_client.v1.customers.retrieve(customer.id)
    stripe_client.v1.customers.retrieve(customer.id)
    counts = requests.get(f"{stripe_emulator.base_url}/_emulator/requests", timeout=5).json()
    assert {"method": "GET", "path": "/v1/customers/{id}", "count": 2} in counts["counts"]
    assert stripe_emulator.emulator.requests[("POST", "/v1/customers")] == 1
    assert requests.post(f"{stripe_emulator.base_url}/_emulator/reset", timeout=5).ok
    assert stripe_emulator.emulator.requests == {}
    with pytest.raises(stripe.InvalidRequestError):
        stripe_client.v1.customers.retrieve(customer.id)
