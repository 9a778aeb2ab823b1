"""The Stripe emulator's state survives a save and a load into a new emulator: objects,
clock, and what falls due (a renewal after the restart still happens)."""

from __future__ import annotations

import pytest
import stripe

from sandbox.stripe import persistence
from sandbox.stripe.server import run_emulator


def test_a_subscription_renews_after_a_restart(tmp_path):
    path = tmp_path / "stripe.state"
    with run_emulator() as first:
        client = stripe.StripeClient(first.api_key, base_addresses={"api": first.base_url},
                                     max_network_retries=0)
        price = client.v1.prices.create({"unit_amount": 500, "currency": "usd",
                                         "recurring": {"interval": "month"},
                                         "product_data": {"name": "Gold"}})
        customer = client.v1.customers.create({"email": "a@example.com"})
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(customer.id,
                                   {"invoice_settings": {"default_payment_method": card.id}})
        sub = client.v1.subscriptions.create({"customer": customer.id,
                                              "items": [{"price": price.id}]})
        first.advance(86_400)
        now = first.now()
        persistence.save(first.emulator, path)
    with run_emulator() as second:
        assert persistence.load(second.emulator, path) is True
        assert second.now() == now
        client = stripe.StripeClient(second.api_key, base_addresses={"api": second.base_url},
                                     max_network_retries=0)
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"
        second.advance(31 * 86_400)
        invoices = client.v1.invoices.list({"subscription": sub.id}).data
        assert sorted(i.billing_reason for i in invoices) == [
            "subscription_create", "subscription_cycle"]
        assert all(i.status == "paid" for i in invoices)


def test_no_file_is_a_fresh_start_and_a_foreign_file_is_refused(tmp_path):
    with run_emulator() as handle:
        assert persistence.load(handle.emulator, tmp_path / "missing") is False
        junk = tmp_path / "junk"
        junk.write_bytes(b"garbage")
        with pytest.raises(ValueError, match="not a Stripe emulator state"):
            persistence.load(handle.emulator, junk)
