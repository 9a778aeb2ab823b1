"""Registrations Stripe refuses for good: `failed` with a plain LastError, never "try again"."""

from __future__ import annotations

from decimal import Decimal

import requests

from caspio_client import where as w
from connector.billing.provisioning import FAILED, NO_CARD, SKIPPED, Provisioner

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


def test_a_provisioning_pass_racing_the_signup_link_leaves_no_stale_last_error(bridge: Bridge):
    """The race, in order: a pass reads the row while pending, the payer opens the link (row
    `checkout`), then the pass finds no card. It must not write "no default card" then."""
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-RACE", "gold", Email="race@example.com")
    provisioner = Provisioner.from_services(bridge.services)
    (read_while_pending,) = [r for r in provisioner.rows_to_process() if r.subscription_key == key]

    checkout = bridge.signup(key)
    assert checkout.status_code == 303
    assert provisioner.process(read_while_pending) == SKIPPED
    row = bridge.row(key)
    assert row["Status"] == "checkout" and row["LastError"] in (None, ""), row["LastError"]

    paid = bridge.pay(checkout.headers["Location"])
    assert paid.status_code == 303
    bridge.settle()
    row = bridge.row(key)
    assert row["Status"] == "active" and row["LastError"] in (None, "")


def test_a_row_that_becomes_trialing_or_active_loses_its_last_error(bridge: Bridge):
    """Whatever was written before the start (here "no default card", as a racing pass wrote
    it before the fix above) is cleared when checkout completes; a live row keeps a later
    LastError."""
    bridge.plan("gold", "25.00")
    bridge.plan("free", "20.00", IntroAmount=Decimal("0"), IntroIntervals=1)
    paid_key = bridge.register("CUST-STALE", "gold", Email="stale@example.com")
    trial_key = bridge.register("CUST-STALE2", "free", Email="trial@example.com")
    provisioner = Provisioner.from_services(bridge.services)
    for key in (paid_key, trial_key):
        answer = bridge.signup(key)
        assert answer.status_code == 303
        provisioner.writer.update(
            "Billing_Subscriptions", "SubscriptionKey", key, {"LastError": NO_CARD}
        )
        assert bridge.pay(answer.headers["Location"]).status_code == 303
    bridge.settle()
    assert (bridge.row(paid_key)["Status"], bridge.row(paid_key)["LastError"] or "") == (
        "active",
        "",
    )
    assert (bridge.row(trial_key)["Status"], bridge.row(trial_key)["LastError"] or "") == (
        "trialing",
        "",
    )

    provisioner.writer.update(
        "Billing_Subscriptions", "SubscriptionKey", paid_key, {"LastError": "kept"}
    )
    sub_id = bridge.row(paid_key)["StripeSubscriptionID"]
    bridge.stripe.v1.subscriptions.update(sub_id, {"metadata": {"touched": "1"}})
    bridge.settle()
    assert bridge.row(paid_key)["LastError"] == "kept"
