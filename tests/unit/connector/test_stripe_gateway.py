import json

import pytest
import responses
import stripe

from connector.stripe_gateway import STRIPE_API_VERSION, StripeGateway, path_template

API = "http://127.0.0.1:9999"


def test_pinned_version_matches_the_installed_stripe_python():
    assert stripe.api_version == STRIPE_API_VERSION


@pytest.mark.parametrize(
    ("url", "template"),
    [
        ("http://h/v1/invoices/in_1Nabcdef/pay", "/v1/invoices/{id}/pay"),
        ("http://h/v1/customers?limit=1", "/v1/customers"),
        ("http://h/v1/prices/price_1Qxyz123", "/v1/prices/{id}"),
        ("http://h/v1/customers/search", "/v1/customers/search"),
        ("http://h/v1/invoice_payments?invoice=in_1Nabcdef", "/v1/invoice_payments"),
        ("http://h/v1/payment_methods/pm_1Qabcdef/attach", "/v1/payment_methods/{id}/attach"),
        ("http://h/v1/subscription_schedules/sub_sched_1Nx2", "/v1/subscription_schedules/{id}"),
        ("http://h/v1/billing_portal/sessions", "/v1/billing_portal/sessions"),
    ],
)
def test_path_template_hides_ids(url, template):
    assert path_template(url) == template


@responses.activate
def test_calls_are_counted_with_status_and_sent_with_pinned_version():
    responses.post(f"{API}/v1/customers", json={"id": "cus_123456", "object": "customer"})
    responses.get(
        f"{API}/v1/customers/cus_missing1",
        status=404,
        json={"error": {"type": "invalid_request_error", "message": "No such customer"}},
    )
    gateway = StripeGateway("sk_test_x", api_base=API, max_network_retries=0)
    gateway.client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "k1"})
    with pytest.raises(stripe.InvalidRequestError):
        gateway.client.v1.customers.retrieve("cus_missing1")
    assert gateway.meter.snapshot() == {
        ("POST", "/v1/customers", 200): 1,
        ("GET", "/v1/customers/{id}", 404): 1,
    }
    sent = responses.calls[0].request
    assert sent.headers["Stripe-Version"] == STRIPE_API_VERSION
    assert sent.headers["Idempotency-Key"] == "k1"


@responses.activate
def test_retries_are_counted_as_separate_calls():
    responses.get(f"{API}/v1/customers", status=500, json={"error": {"message": "boom"}})
    responses.get(f"{API}/v1/customers", json={"object": "list", "data": [], "has_more": False})
    gateway = StripeGateway("sk_test_x", api_base=API, max_network_retries=1)
    gateway.client.v1.customers.list({"limit": 1})
    assert gateway.meter.total() == 2
    assert json.loads(responses.calls[1].response.text)["object"] == "list"


def test_idempotency_keys_are_deterministic_and_bounded():
    key = StripeGateway.idempotency_key("price", "gold-monthly", 1000, "usd")
    assert key == StripeGateway.idempotency_key("price", "gold-monthly", 1000, "usd")
    assert key != StripeGateway.idempotency_key("price", "gold-monthly", 1001, "usd")
    assert len(StripeGateway.idempotency_key("x" * 1000)) <= 255
    assert key.startswith("caspio-stripe-price-")
    assert StripeGateway.idempotency_key("p", "a|b", "c") != StripeGateway.idempotency_key(
        "p", "a", "b|c"
    )
