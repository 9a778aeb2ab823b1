"""`caspio-stripe replay --since`: the events the endpoint never received are fetched from
Stripe's Events API, stored once, and applied; those it did receive are not stored again."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

from caspio_client import where as w
from connector.cli import main
from connector.sync.inbox import DONE, IGNORED, Inbox
from tests.integration.reconcile.bridge import Bridge, running_bridge, subscribe_customers


@pytest.fixture
def bridge(store_url, fresh_caspio_emulator, stripe_emulator) -> Iterator[Bridge]:
    yield from running_bridge(store_url, fresh_caspio_emulator, stripe_emulator)


def test_replay_since_recovers_the_events_the_endpoint_never_received(bridge: Bridge):
    bridge.dropper.active = True
    subs = subscribe_customers(bridge, 2)
    assert bridge.emulator.wait_idle(30)
    bridge.dropper.active = False
    first_invoices = [inv.id for inv in bridge.stripe.v1.invoices.list({"limit": 100})]
    assert len(first_invoices) == 2
    # Later changes are received (Stripe keeps events 30 days: stay inside that).
    for _customer, _key, sub_id in subs:
        bridge.stripe.v1.subscriptions.update(sub_id, {"metadata": {"note": "later"}})
    bridge.stripe.v1.customers.create({"email": "later@example.com"})
    bridge.settle()
    dropped, received = set(bridge.dropper.dropped), set(bridge.dropper.passed)
    assert dropped and received
    inbox = Inbox(bridge.store)
    assert not any(inbox.get(e) for e in dropped)
    for invoice_id in first_invoices:  # the sign-ups' payments never reached Caspio
        assert bridge.caspio.get_one("Billing_Payments", w.eq("InvoiceID", invoice_id)) is None

    result = CliRunner().invoke(main, ["replay", "--since", "2d"], env=bridge.env)
    assert result.exit_code == 0, result.output
    assert f"{len(dropped)} new, {len(received)} already received" in result.output
    assert {inbox.get(e)["status"] for e in dropped} <= {DONE, IGNORED}
    for _customer, sub_key, sub_id in subs:
        row = bridge.row("Billing_Subscriptions", "SubscriptionKey", sub_key)
        assert (row["StripeSubscriptionID"], row["Status"]) == (sub_id, "active")
    for invoice_id in first_invoices:
        row = bridge.caspio.get_one("Billing_Payments", w.eq("InvoiceID", invoice_id))
        assert row is not None and row["Status"] == "succeeded"

    again = CliRunner().invoke(main, ["replay", "--since", "2d"], env=bridge.env)
    assert again.exit_code == 0 and " 0 new," in again.output


def test_replay_since_refuses_a_bad_time(bridge: Bridge):
    result = CliRunner().invoke(main, ["replay", "--since", "last tuesday"], env=bridge.env)
    assert result.exit_code == 2
    assert "neither a duration" in result.output
