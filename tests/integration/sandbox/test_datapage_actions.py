"""The Subscriptions page's actions in a running sandbox: the page sets RequestedAction on
the row (as a Caspio Details page would), Caspio's outgoing webhook tells the bridge, and
the bridge does it in Stripe and clears the field."""

from __future__ import annotations

import requests

from caspio_client import where as w
from sandbox.launcher.scenarios import ScenarioBook, parse


def subscriber(sandbox, plan):
    book = ScenarioBook({"s": parse("s", f"steps: [{{subscribe: {{plan: {plan}}}}}]")})
    summary = book.run("s", sandbox)
    customer_key = summary.split(": ", 1)[1].split(" ", 1)[0]
    return sandbox.services.caspio.get_one("Billing_Subscriptions",
                                           w.eq("CustomerKey", customer_key))


def act(sandbox, key, **form):
    answer = requests.post(f"{sandbox.home_url}subscriptions/{key}/action", data=form,
                           allow_redirects=False, timeout=60)
    assert answer.status_code == 303
    page = requests.get(f"{sandbox.home_url}subscriptions", timeout=60)  # settles first
    assert page.status_code == 200
    return sandbox.services.caspio.get_one("Billing_Subscriptions",
                                           w.eq("SubscriptionKey", key))


def test_cancel_at_period_end_from_the_page(running_sandbox):
    row = subscriber(running_sandbox, "gold-weekly")
    after = act(running_sandbox, row["SubscriptionKey"],
                RequestedAction="cancel_at_period_end")
    assert after["RequestedAction"] in (None, "")
    assert after["LastError"] in (None, "")
    stripe_sub = running_sandbox.services.stripe.client.v1.subscriptions.retrieve(
        row["StripeSubscriptionID"])
    assert stripe_sub.cancel_at_period_end is True


def test_change_plan_from_the_page(running_sandbox):
    row = subscriber(running_sandbox, "silver-monthly")
    after = act(running_sandbox, row["SubscriptionKey"], RequestedAction="change_plan",
                PlanKey="platinum-monthly")
    assert after["RequestedAction"] in (None, "")
    assert after["LastError"] in (None, "")
    assert after["PlanKey"] == "platinum-monthly"


def test_the_sandbox_card_switch_makes_the_next_renewal_fail(running_sandbox):
    row = subscriber(running_sandbox, "platinum-daily")
    answer = requests.post(f"{running_sandbox.home_url}customers/{row['CustomerKey']}/card",
                           data={"payment_method": "pm_card_chargeCustomerFail"},
                           allow_redirects=False, timeout=60)
    assert answer.status_code == 303
    running_sandbox.advance(86_400 + 60)
    payments = list(running_sandbox.services.caspio.select(
        "Billing_Payments", where=w.eq("CustomerKey", row["CustomerKey"]), order_by="PK_ID"))
    assert [p["Status"] for p in payments] == ["succeeded", "failed"]


def test_an_unknown_test_card_is_refused(running_sandbox):
    answer = requests.post(f"{running_sandbox.home_url}customers/x/card",
                           data={"payment_method": "pm_card_anything"}, timeout=60)
    assert answer.status_code == 400
