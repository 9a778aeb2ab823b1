"""Refunds (API), disputes and payouts (emulator controls, HTTP and Python)."""

from __future__ import annotations

import pytest
import requests
import stripe

from sandbox.stripe import flow_controls

from .helpers import customer_with_card, event_types, monthly_price, product


def _paid_charge(client) -> object:
    price = monthly_price(client, product(client).id, 3000)
    customer = customer_with_card(client)
    client.v1.subscriptions.create(params={"customer": customer.id, "items": [{"price": price.id}]})
    (charge,) = client.v1.charges.list(params={"customer": customer.id}).data
    assert charge.status == "succeeded"
    return charge


def test_partial_then_full_refund(stripe_client, stripe_emulator):
    client = stripe_client
    charge = _paid_charge(client)
    first = client.v1.refunds.create(params={"charge": charge.id, "amount": 1000})
    assert (first.amount, first.status, first.charge) == (1000, "succeeded", charge.id)
    assert first.payment_intent == charge.payment_intent
    after = client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (1000, False)

    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": charge.id, "amount": 2001})
    assert info.value.param == "amount"

    rest = client.v1.refunds.create(params={"payment_intent": charge.payment_intent})
    assert rest.amount == 2000
    after = client.v1.charges.retrieve(charge.id)
    assert (after.amount_refunded, after.refunded) == (3000, True)
    assert [r.id for r in after.refunds.data] == [rest.id, first.id]

    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.refunds.create(params={"charge": charge.id})
    assert info.value.code == "charge_already_refunded"
    assert event_types(client, "*refund*") == [
        "refund.created",
        "charge.refunded",
        "refund.created",
        "charge.refunded",
    ]
    listed = client.v1.refunds.list(params={"charge": charge.id}).data
    assert [r.id for r in listed] == [rest.id, first.id]


def test_dispute_opened_and_won_through_http_controls(stripe_client, stripe_emulator):
    client = stripe_client
    charge = _paid_charge(client)
    base = stripe_emulator.base_url
    opened = requests.post(
        f"{base}/_emulator/disputes", json={"charge": charge.id, "reason": "fraudulent"}, timeout=10
    )
    assert opened.status_code == 200
    dispute = client.v1.disputes.retrieve(opened.json()["id"])
    assert (dispute.status, dispute.reason) == ("needs_response", "fraudulent")
    assert dispute.amount == 3000
    assert dispute.payment_intent == charge.payment_intent
    assert dispute.evidence_details.due_by > stripe_emulator.now()
    assert client.v1.charges.retrieve(charge.id).disputed is True

    closed = requests.post(
        f"{base}/_emulator/disputes/{dispute.id}/close", json={"status": "won"}, timeout=10
    )
    assert closed.status_code == 200
    assert client.v1.disputes.retrieve(dispute.id).status == "won"
    assert event_types(client, "charge.dispute.*") == [
        "charge.dispute.created",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.closed",
        "charge.dispute.funds_reinstated",
    ]
    again = requests.post(
        f"{base}/_emulator/disputes/{dispute.id}/close", json={"status": "lost"}, timeout=10
    )
    assert again.status_code == 400
    unknown = requests.post(f"{base}/_emulator/disputes", json={"charge": "ch_nope"}, timeout=10)
    assert unknown.status_code == 404


def test_dispute_python_control_and_accept(stripe_client, stripe_emulator):
    client = stripe_client
    charge = _paid_charge(client)
    dispute = flow_controls.open_dispute(stripe_emulator.emulator, charge.id, amount=1200)
    assert dispute["amount"] == 1200
    accepted = client.v1.disputes.close(dispute["id"])
    assert accepted.status == "lost"
    assert event_types(client, "charge.dispute.*")[-1] == "charge.dispute.closed"
    listed = client.v1.disputes.list(params={"charge": charge.id}).data
    assert [d.id for d in listed] == [dispute["id"]]


def test_payouts_paid_and_failed(stripe_client, stripe_emulator):
    client = stripe_client
    base = stripe_emulator.base_url
    paid = requests.post(
        f"{base}/_emulator/payouts",
        json={"amount": 5000, "currency": "usd", "status": "paid"},
        timeout=10,
    )
    assert paid.status_code == 200
    failed = stripe_emulator.emulator.create_payout(
        700, status="failed", failure_code="account_closed"
    )
    assert client.v1.payouts.retrieve(paid.json()["id"]).status == "paid"
    got = client.v1.payouts.retrieve(failed["id"])
    assert (got.status, got.failure_code) == ("failed", "account_closed")
    assert got.failure_message
    assert event_types(client, "payout.*") == [
        "payout.created",
        "payout.paid",
        "payout.created",
        "payout.failed",
    ]
    assert [p.id for p in client.v1.payouts.list(params={"status": "failed"}).data] == [got.id]
    bad = requests.post(
        f"{base}/_emulator/payouts", json={"amount": 1, "status": "lost"}, timeout=10
    )
    assert bad.status_code == 400
