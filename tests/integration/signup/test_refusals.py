"""Registrations Stripe refuses for good: `failed` with a plain LastError, never "try again"."""

from __future__ import annotations

import requests

from caspio_client import where as w
from connector.billing.provisioning import FAILED, Provisioner

from .conftest import Bridge
from .test_provisioning import _payload


def test_an_invalid_email_fails_the_row_and_says_so_instead_of_try_again(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-BADMAIL", "gold", Email="not-an-email", Name="Bo")

    answer = bridge.signup(key)

    assert answer.status_code == 422, answer.text
    assert "cannot be completed" in answer.text
    assert "email address given is not valid" in answer.text
    assert "try again in a minute" not in answer.text and key not in answer.text
    row = bridge.row(key)
    assert row["Status"] == "failed" and row["AccessActive"] in (False, None)
    assert "Email 'not-an-email' is not a valid email address" in row["LastError"]
    assert "default card" not in row["LastError"]

    # A poller pass leaves the failed row alone (no "no default card" over the reason).
    Provisioner.from_services(bridge.services).run_pass()
    assert "not a valid email address" in bridge.row(key)["LastError"]

    # Corrected, the same link works: one customer for the key, with the right email.
    bridge.caspio.update(
        "Billing_Subscriptions", w.eq("SubscriptionKey", key), {"Email": "bo@example.com"}
    )
    again = bridge.signup(key)
    assert again.status_code == 303, again.text
    (customer,) = bridge.customer_rows("CUST-BADMAIL")
    assert bridge.stripe.v1.customers.retrieve(customer["StripeCustomerID"]).email == (
        "bo@example.com"
    )
    assert bridge.row(key)["Status"] == "checkout"
    assert bridge.row(key)["LastError"] in (None, "")


def test_provisioning_a_row_stripe_refuses_fails_it_on_every_path(bridge: Bridge):
    """A customer row naming a Stripe customer that does not exist: 404, no retry helps."""
    bridge.plan("gold", "25.00")
    bridge.caspio.insert(
        "Billing_Customers", {"CustomerKey": "CUST-GONE", "StripeCustomerID": "cus_gone404"}
    )
    by_pass = bridge.register("CUST-GONE", "gold")
    by_webhook = bridge.register("CUST-GONE", "gold")

    report = Provisioner.from_services(bridge.services).run_pass(
        [Provisioner.from_services(bridge.services).registration(by_pass)]  # type: ignore[list-item]
    )
    assert report.counts == {FAILED: 1}
    row = bridge.row(by_pass)
    assert row["Status"] == "failed"
    assert "StripeCustomerID of Billing_Customers 'CUST-GONE'" in row["LastError"]

    # Caspio's webhook: answered 200 (no endless redelivery), the row failed likewise.
    answer = requests.post(
        f"{bridge.url}/caspio/webhook", json=_payload(bridge, by_webhook, "msg-gone"), timeout=10
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"outcomes": {by_webhook: FAILED}}
    assert bridge.row(by_webhook)["Status"] == "failed"
