"""A sandbox restarted on other ports still gets Stripe's events: the webhook endpoint it
made on the first run is pointed at the bridge's new address."""

from __future__ import annotations

import re

from caspio_client import where as w
from tests.fixtures.sandbox import start_sandbox


def test_a_moved_bridge_still_receives_stripe_events(tmp_path):
    first = start_sandbox(tmp_path)
    try:
        first.run_scenario("payout")
    finally:
        first.stop()
    second = start_sandbox(tmp_path)  # port 0 again: almost surely another port
    try:
        summary = second.run_scenario("payout")
        payout_id = re.search(r"po_\w+", summary).group(0)
        row = second.services.caspio.get_one("Billing_Payouts", w.eq("PayoutID", payout_id))
        assert row is not None and row["Status"] == "paid"
        endpoints = second.services.stripe.client.v1.webhook_endpoints.list().data
        assert [e.url for e in endpoints] == [f"{second.bridge_url}/stripe/webhook"]
        assert len(list(second.services.caspio.select("Billing_Payouts"))) == 2
    finally:
        second.stop()
