"""Server-side provisioning: `caspio-stripe provision`, Caspio's outgoing webhook, polling."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal
from typing import Any

import requests
from click.testing import CliRunner

from caspio_client import where as w
from connector.billing.poller import Poller
from connector.billing.provisioning import NO_CARD, Provisioner
from connector.cli import main

from .conftest import CASPIO_SECRET, Bridge


def _env(bridge: Bridge) -> dict[str, str]:
    s = bridge.services.settings
    return {
        "CASPIO_ACCOUNT_URL": s.caspio_account_url,
        "CASPIO_CLIENT_ID": s.caspio_client_id,
        "CASPIO_CLIENT_SECRET": s.caspio_client_secret.reveal(),
        "STRIPE_SECRET_KEY": s.stripe_secret_key.reveal(),
        "STRIPE_WEBHOOK_SECRET": s.stripe_webhook_secrets[0].reveal(),
        "STRIPE_API_BASE": s.stripe_api_base or "",
        "BRIDGE_PUBLIC_URL": bridge.url,
        "BRIDGE_DATABASE_URL": s.bridge_database_url,
    }


def _no_subscriptions_for(bridge: Bridge, customer_id: str) -> bool:
    subs = bridge.stripe.v1.subscriptions.list({"customer": customer_id, "status": "all"})
    return subs.data == []


def test_provision_command_provisions_declines_and_leaves_cardless_rows(bridge: Bridge, tmp_path):
    bridge.plan("gold", "25.00")
    good_customer = bridge.customer_with_card("CUST-CARD")
    bad_customer = bridge.customer_with_card("CUST-DECLINE", card="pm_card_chargeDeclined")
    bridge.caspio.insert("Billing_Customers", {"CustomerKey": "CUST-NOCARD"})
    good = bridge.register("CUST-CARD", "gold")
    declined = bridge.register("CUST-DECLINE", "gold")
    cardless = bridge.register("CUST-NOCARD", "gold")

    result = CliRunner().invoke(main, ["provision"], env=_env(bridge))
    assert result.exit_code == 1, result.output  # a declined row is a failure
    assert result.stdout.strip().splitlines()[-1] == (
        "provisioned 1, needs signup 1, failed 1, action done 0, action failed 0, "
        "skipped 0, error 0"
    )
    assert f"failed: {declined}" in result.stderr
    bridge.settle()

    row = bridge.row(good)
    assert row["Status"] == "active" and row["AccessActive"] is True
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    assert sub.customer == good_customer
    assert sub.metadata["caspio_subscription_key"] == good
    (customer,) = bridge.customer_rows("CUST-CARD")
    assert Decimal(str(customer["AvgMonthlyTotal"])) == Decimal("25")
    assert [p["Status"] for p in bridge.payments(good)] == ["succeeded"]

    row = bridge.row(declined)
    assert row["Status"] == "failed" and row["AccessActive"] is False
    assert row["LastError"] == "first payment declined: Your card was declined. (generic_decline)"
    assert row["StripeSubscriptionID"] in (None, "")
    assert _no_subscriptions_for(bridge, bad_customer)
    assert bridge.stripe.v1.invoices.list({"customer": bad_customer}).data == []

    row = bridge.row(cardless)
    assert (row["Status"], row["LastError"]) == ("pending", NO_CARD)

    # Run again: nothing new in Stripe, the cardless row is still waiting for its link.
    again = CliRunner().invoke(main, ["provision"], env=_env(bridge))
    assert "provisioned 0" in again.stdout and "needs signup 1" in again.stdout
    assert len(bridge.stripe.v1.subscriptions.list({"status": "all"}).data) == 1
    # The cardless row can still sign up through its link, and so can the declined one,
    # with another card typed on Stripe's page.
    bridge.sign_up_and_pay(cardless)
    row = bridge.row(cardless)
    assert row["Status"] == "active" and row["LastError"] in (None, "")
    bridge.sign_up_and_pay(declined)
    row = bridge.row(declined)
    assert row["Status"] == "active" and row["LastError"] in (None, "")
    assert not _no_subscriptions_for(bridge, bad_customer)  # the same Stripe customer


def _configure_caspio_webhook(bridge: Bridge, secret: str = CASPIO_SECRET) -> None:
    bridge.caspio_emulator.emulator.configure_webhook(
        "Billing_Subscriptions", f"{bridge.url}/caspio/webhook", secret, ["table.recordInsert"]
    )


def test_caspio_webhook_insert_provisions_once_and_a_declined_card_fails(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.customer_with_card("CUST-W")
    bad = bridge.customer_with_card("CUST-WD", card="pm_card_chargeDeclined")
    _configure_caspio_webhook(bridge)

    key = bridge.register("CUST-W", "gold")  # Caspio POSTs the insert to the bridge
    declined = bridge.register("CUST-WD", "gold")
    bridge.settle()
    deliveries = bridge.caspio_emulator.emulator.webhooks.deliveries()
    assert [(d.statuses, d.delivered) for d in deliveries] == [([200], True)] * 2

    row = bridge.row(key)
    assert row["Status"] == "active" and row["StripeSubscriptionID"]
    row = bridge.row(declined)
    assert row["Status"] == "failed" and "declined" in row["LastError"]
    assert _no_subscriptions_for(bridge, bad)

    # Caspio delivers at least once: the same message again changes nothing.
    replay = requests.post(f"{bridge.url}/caspio/webhook", json=deliveries[0].payload, timeout=10)
    assert replay.status_code == 200 and replay.json() == {"duplicate": True}
    assert len(bridge.stripe.v1.subscriptions.list({"status": "all"}).data) == 1


def _payload(bridge: Bridge, key: str, message_id: str, secret: str = CASPIO_SECRET) -> dict:
    return {
        "eventId": "ev1234",
        "messageId": message_id,
        "webhookId": "wh1234",
        "accountId": "",
        "secret": secret,
        "eventDate": "2026-11-30T12:00:00",
        "eventType": "table.recordInsert",
        "objectName": "Billing_Subscriptions",
        "data": [bridge.row(key)],
    }


def test_forged_caspio_webhook_secret_is_refused_and_changes_nothing(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.customer_with_card("CUST-FORGE")
    key = bridge.register("CUST-FORGE", "gold")
    message_id = str(uuid.uuid4())
    for forged in ("wrong-secret", "", CASPIO_SECRET[:-1], CASPIO_SECRET + "x", None):
        body = _payload(bridge, key, message_id, secret=forged)  # type: ignore[arg-type]
        answer = requests.post(f"{bridge.url}/caspio/webhook", json=body, timeout=10)
        assert answer.status_code == 401, forged
    no_secret = _payload(bridge, key, message_id)
    del no_secret["secret"]
    answer = requests.post(f"{bridge.url}/caspio/webhook", json=no_secret, timeout=10)
    assert answer.status_code == 401
    assert bridge.row(key)["Status"] == "pending"
    assert bridge.stripe.v1.subscriptions.list({"status": "all"}).data == []
    # The refused deliveries did not use up the message id: the genuine one still works.
    genuine = requests.post(
        f"{bridge.url}/caspio/webhook", json=_payload(bridge, key, message_id), timeout=10
    )
    assert genuine.status_code == 200
    assert bridge.row(key)["Status"] == "active"


def test_caspio_webhook_rejects_malformed_bodies(bridge: Bridge):
    url = f"{bridge.url}/caspio/webhook"
    assert requests.post(url, data=b"not json", timeout=10).status_code == 400
    assert requests.post(url, json=[1, 2], timeout=10).status_code == 400
    body = {"secret": CASPIO_SECRET, "data": []}
    assert requests.post(url, json=body, timeout=10).status_code == 400  # no messageId
    other = {
        "secret": CASPIO_SECRET,
        "messageId": "m1",
        "data": [],
        "objectName": "Other",
        "eventType": "table.recordInsert",
    }
    assert requests.post(url, json=other, timeout=10).json() == {"ignored": True}
    deep = b"[" * 1000 + b"]" * 1000  # no secret needed to reach the decoder
    assert requests.post(url, data=deep, timeout=10).status_code == 400
    deep_object = b'{"secret": ' + b"[" * 1000 + b"]" * 1000 + b"}"
    assert requests.post(url, data=deep_object, timeout=10).status_code == 400
    big = b"{" + b" " * (1024 * 1024 + 10) + b"}"
    assert requests.post(url, data=big, timeout=10).status_code == 413


def test_polling_pass_provisions_new_rows(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.customer_with_card("CUST-POLL")
    key = bridge.register("CUST-POLL", "gold")
    poller = Poller(Provisioner.from_services(bridge.services), 60)
    poller.run_once()
    bridge.settle()
    assert bridge.row(key)["Status"] == "active"
    assert poller.passes == 1
    row = bridge.caspio.get_one("Billing_Subscriptions", w.eq("SubscriptionKey", key))
    assert row is not None and row["LastError"] in (None, "")


def _subscriptions_of(bridge: Bridge, customer_id: str) -> list[Any]:
    page = bridge.stripe.v1.subscriptions.list({"customer": customer_id, "status": "all"})
    return list(page.data)


def test_signup_link_opened_while_server_side_provisioning_runs_creates_no_session(
    bridge: Bridge,
):
    """Forced interleaving: provisioning has created the subscription but not yet written
    the row (still `pending`) when the payer opens the sign-up link."""
    bridge.plan("gold", "25.00")
    customer = bridge.customer_with_card("CUST-RACE-1")
    key = bridge.register("CUST-RACE-1", "gold")
    provisioner = Provisioner.from_services(bridge.services)
    created, resume = threading.Event(), threading.Event()
    remember = provisioner.schedules.remember

    def paused_remember(subscription_key: str, plan: Any) -> None:
        created.set()
        assert resume.wait(30)
        remember(subscription_key, plan)

    provisioner.schedules.remember = paused_remember  # type: ignore[method-assign]
    outcome: list[str] = []
    registration = provisioner.registration(key)
    assert registration is not None
    worker = threading.Thread(target=lambda: outcome.append(provisioner.process(registration)))
    worker.start()
    try:
        assert created.wait(30)
        assert bridge.row(key)["Status"] == "pending"
        answer = bridge.signup(key)
    finally:
        resume.set()
        worker.join(30)
    assert answer.status_code == 404  # no Checkout session: the row is being provisioned
    assert outcome == ["provisioned"]
    bridge.settle()
    assert [s.status for s in _subscriptions_of(bridge, customer)] == ["active"]
    assert bridge.row(key)["Status"] == "active"


def test_server_side_provisioning_after_the_signup_link_was_opened_leaves_the_row_to_it(
    bridge: Bridge,
):
    """Forced interleaving: provisioning has seen the card and is about to create the
    subscription when the payer opens the link and pays; it must then create nothing."""
    bridge.plan("gold", "25.00")
    customer = bridge.customer_with_card("CUST-RACE-2")
    key = bridge.register("CUST-RACE-2", "gold")
    provisioner = Provisioner.from_services(bridge.services)
    checked, resume = threading.Event(), threading.Event()
    with_card = provisioner._customer_with_card

    def paused_with_card(customer_key: str) -> tuple[str, str | None] | None:
        found = with_card(customer_key)
        checked.set()
        assert resume.wait(30)
        return found

    provisioner._customer_with_card = paused_with_card  # type: ignore[method-assign]
    registration = provisioner.registration(key)
    assert registration is not None
    outcome: list[str] = []
    worker = threading.Thread(target=lambda: outcome.append(provisioner.process(registration)))
    worker.start()
    try:
        assert checked.wait(30)
        answer = bridge.signup(key)
        assert answer.status_code == 303
    finally:
        resume.set()
        worker.join(30)
    assert outcome == ["skipped"]
    assert bridge.pay(answer.headers["Location"]).status_code == 303
    bridge.settle()
    subscriptions = _subscriptions_of(bridge, customer)
    assert [s.status for s in subscriptions] == ["active"]
    assert bridge.row(key)["StripeSubscriptionID"] == subscriptions[0].id


def test_a_customer_who_signed_up_through_checkout_is_provisioned_server_side_next_time(
    bridge: Bridge,
):
    """Checkout leaves the card only on the subscription (invoice_settings stays empty)."""
    bridge.plan("gold", "25.00")
    bridge.plan("silver", "10.00")
    first = bridge.register("CUST-BACK", "gold", Email="back@example.com")
    bridge.sign_up_and_pay(first)
    (customer_row,) = bridge.customer_rows("CUST-BACK")
    customer_id = customer_row["StripeCustomerID"]
    customer = bridge.stripe.v1.customers.retrieve(customer_id)
    assert customer.invoice_settings.default_payment_method is None  # as Stripe leaves it
    second = bridge.register("CUST-BACK", "silver")
    provisioner = Provisioner.from_services(bridge.services)
    registration = provisioner.registration(second)
    assert registration is not None
    assert provisioner.process(registration) == "provisioned"
    bridge.settle()
    row = bridge.row(second)
    assert row["Status"] == "active" and row["LastError"] in (None, "")
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    first_sub = bridge.stripe.v1.subscriptions.retrieve(bridge.row(first)["StripeSubscriptionID"])
    assert sub.default_payment_method == first_sub.default_payment_method
    assert bridge.charged(sub.id) == [1000]
