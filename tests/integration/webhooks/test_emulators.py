"""The whole Stripe -> Caspio path over the real emulators: signed deliveries over HTTP into
the webhook endpoint, the inbox, the worker, the Caspio REST client and the Stripe client."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from caspio_client import CaspioClient
from caspio_client import where as w
from connector.caspio_setup import init_caspio
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.sync.context import SyncContext
from connector.sync.dispatch import EventDispatcher
from connector.sync.inbox import DEAD, PENDING, Inbox
from connector.sync.stripe_reader import GatewayStripeReader
from connector.sync.worker import Worker
from connector.web import stripe_webhooks
from mappings import load_mapping

SECRET = "whsec_integration"
MONTH = 31 * 86400


class Clock:
    def __init__(self) -> None:
        self.now = 2_000_000_000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class LiveBridge:
    caspio: CaspioClient
    stripe: Any  # stripe.StripeClient through the bridge's gateway
    gateway: StripeGateway
    emulator: Any
    caspio_controls: Any
    store: Store
    worker: Worker
    clock: Clock
    sub_key: str

    def settle(self) -> None:
        """Every webhook delivered, then every ready event processed."""
        assert self.emulator.wait_idle(20)
        self.worker.run_until_idle()

    def row(self, table: str, key_field: str, key: str) -> dict[str, Any]:
        found = self.caspio.get_one(table, w.eq(key_field, key))
        assert found is not None, f"{table} has no {key_field}={key}"
        return found


@pytest.fixture
def live(store, fresh_caspio_emulator, stripe_emulator) -> Iterator[LiveBridge]:
    running = fresh_caspio_emulator
    caspio = CaspioClient(
        running.base_url, running.client_id, running.client_secret, max_attempts=1
    )
    mapping = load_mapping()
    init_caspio(caspio, mapping)
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"})
    caspio.insert("Billing_Customers", {"CustomerKey": "CUST-1", "Email": "a@example.com"})
    # SubscriptionKey is a GUID Caspio makes itself
    sub_key = caspio.insert("Billing_Subscriptions", {"CustomerKey": "CUST-1", "PlanKey": "gold"})[
        "SubscriptionKey"
    ]

    app = Flask("bridge-under-test")
    app.extensions["caspio_stripe"] = type("Services", (), {})()
    app.extensions["caspio_stripe"].settings = Settings.for_tests(stripe_webhook_secrets=(SECRET,))
    app.extensions["caspio_stripe"].store = store
    app.register_blueprint(stripe_webhooks.blueprint)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stripe_emulator.emulator.add_webhook_endpoint(
        f"http://127.0.0.1:{server.server_port}/stripe/webhook", secret=SECRET
    )

    gateway = StripeGateway(
        stripe_emulator.api_key, api_base=stripe_emulator.base_url, max_network_retries=0
    )
    clock = Clock()
    context = SyncContext.build(
        store, caspio, mapping=mapping, stripe=GatewayStripeReader(gateway.client), clock=clock
    )
    worker = Worker(
        store, EventDispatcher(context), clock=clock, backoff=lambda n: 30.0, max_attempts=20
    )
    try:
        yield LiveBridge(
            caspio,
            gateway.client,
            gateway,
            stripe_emulator,
            running.controls,
            store,
            worker,
            clock,
            sub_key,
        )
    finally:
        stripe_emulator.wait_idle(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        caspio.close()


def subscribe(live: LiveBridge, card: str = "pm_card_visa") -> tuple[str, str]:
    client = live.stripe
    product = client.v1.products.create({"name": "Gold"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 2000,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "gold",
        }
    )
    customer = client.v1.customers.create(
        {"email": "a@example.com", "metadata": {"caspio_customer_key": "CUST-1"}}
    )
    attached = client.v1.payment_methods.attach(card, {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": attached.id}}
    )
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "metadata": {"caspio_subscription_key": live.sub_key, "caspio_plan_key": "gold"},
        }
    )
    return customer.id, sub.id


def test_signup_and_renewals_reach_caspio_with_at_most_two_calls_per_renewal(live):
    customer_id, sub_id = subscribe(live)
    live.settle()
    sub = live.row("Billing_Subscriptions", "SubscriptionKey", live.sub_key)
    assert (sub["Status"], sub["AccessActive"], sub["StripeSubscriptionID"]) == (
        "active",
        True,
        sub_id,
    )
    assert (sub["MonthlyValue"], sub["YearlyValue"]) == (20, 240)
    customer = live.row("Billing_Customers", "CustomerKey", "CUST-1")
    assert (
        customer["AvgMonthlyTotal"],
        customer["AvgYearlyTotal"],
        customer["TotalsCurrency"],
        customer["ActiveSubscriptions"],
    ) == (20, 240, "usd", 1)
    payments = list(live.caspio.select("Billing_Payments"))
    assert [
        (p["Status"], p["Amount"], p["SubscriptionKey"], p["CustomerKey"]) for p in payments
    ] == [("succeeded", 20, live.sub_key, "CUST-1")]
    assert payments[0]["PaymentIntentID"].startswith("pi_") and payments[0]["ChargeID"].startswith(
        "ch_"
    )

    for renewal in range(2):
        live.caspio.meter.reset()
        live.emulator.advance(MONTH)
        live.settle()
        assert live.caspio.meter.total() <= 2, live.caspio.meter.snapshot()
        assert len(list(live.caspio.select("Billing_Payments"))) == 2 + renewal
    assert all(p["Status"] == "succeeded" for p in live.caspio.select("Billing_Payments"))
    period_end = live.stripe.v1.subscriptions.retrieve(sub_id)["items"].data[0].current_period_end
    assert live.row("Billing_Subscriptions", "SubscriptionKey", live.sub_key)[
        "CurrentPeriodEnd"
    ].startswith(
        __import__("datetime")
        .datetime.fromtimestamp(period_end, __import__("datetime").timezone.utc)
        .strftime("%Y-%m-%dT%H:%M")
    )
    assert Inbox(live.store).list(status=DEAD) == []


def test_a_declined_renewal_writes_the_decline_and_past_due(live):
    customer_id, sub_id = subscribe(live)
    live.settle()
    failing = live.stripe.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", {"customer": customer_id}
    )
    live.stripe.v1.customers.update(
        customer_id, {"invoice_settings": {"default_payment_method": failing.id}}
    )
    live.emulator.advance(MONTH)
    live.settle()
    failed = [p for p in live.caspio.select("Billing_Payments") if p["Status"] == "failed"]
    assert len(failed) == 1
    row = failed[0]
    # a short month can bring the first automatic retry inside the advance too
    invoice = live.stripe.v1.invoices.retrieve(row["InvoiceID"])
    assert invoice.status == "open"
    assert row["AttemptCount"] == invoice.attempt_count >= 1
    assert row["FailureCode"] and row["FailureMessage"]
    assert row["NextAttemptAt"] and row["HostedInvoiceURL"] and row["FailedAt"]
    sub = live.row("Billing_Subscriptions", "SubscriptionKey", live.sub_key)
    assert (sub["Status"], sub["AccessActive"]) == ("past_due", True)
    assert live.row("Billing_Customers", "CustomerKey", "CUST-1")["ActiveSubscriptions"] == 1


def test_duplicated_reordered_deliveries_and_a_caspio_outage_lose_nothing(live):
    live.emulator.emulator.set_delivery_faults(duplicate_every=2, reorder=True, seed=7)
    _customer_id, sub_id = subscribe(live)
    assert live.emulator.wait_idle(20)
    live.caspio_controls.set_faults(down=True)
    live.worker.run_until_idle()
    inbox = Inbox(live.store)
    assert inbox.list(status=PENDING), "events wait while Caspio is down"
    for _ in range(3):  # the outage lasts a few retry rounds
        live.clock.now += 31
        live.worker.run_until_idle()
    live.caspio_controls.set_faults(down=False)
    live.emulator.advance(MONTH)  # a renewal on top, delivered duplicated and shuffled
    for _ in range(3):
        live.clock.now += 31
        live.settle()
    assert inbox.list(status=PENDING) == [] and inbox.list(status=DEAD) == []
    statuses = sorted(p["Status"] for p in live.caspio.select("Billing_Payments"))
    assert statuses == ["succeeded", "succeeded"]
    sub = live.row("Billing_Subscriptions", "SubscriptionKey", live.sub_key)
    assert (sub["Status"], sub["StripeSubscriptionID"]) == ("active", sub_id)
    received = [d for d in live.emulator.emulator.deliveries if d.status == 200]
    assert len(received) > len({d.event_id for d in received}), "the emulator sent duplicates"


def test_refunds_disputes_and_payouts_reach_caspio(live):
    from sandbox.stripe import flow_controls

    subscribe(live)
    live.settle()
    (payment,) = list(live.caspio.select("Billing_Payments"))
    em = live.emulator.emulator
    flow_controls.refund(em, payment["ChargeID"], 500)
    live.settle()
    row = live.row("Billing_Payments", "InvoiceID", payment["InvoiceID"])
    assert (row["Status"], row["RefundedAmount"]) == ("partially_refunded", 5)

    dispute = flow_controls.open_dispute(em, payment["ChargeID"], reason="fraudulent", amount=1500)
    flow_controls.close_dispute(em, dispute["id"], "lost")
    live.settle()
    disputed = live.row("Billing_Disputes", "DisputeID", dispute["id"])
    assert (disputed["Status"], disputed["Reason"], disputed["Amount"]) == (
        "lost",
        "fraudulent",
        15,
    )
    assert (disputed["InvoiceID"], disputed["ChargeID"]) == (
        payment["InvoiceID"],
        payment["ChargeID"],
    )
    assert live.row("Billing_Payments", "InvoiceID", payment["InvoiceID"])["Status"] == "disputed"

    payout = flow_controls.create_payout(em, 12345, status="failed", failure_code="account_closed")
    live.settle()
    row = live.row("Billing_Payouts", "PayoutID", payout["id"])
    assert (row["Status"], row["Amount"], row["FailureCode"]) == (
        "failed",
        Decimal("123.45"),
        "account_closed",
    )
    assert row["FailureMessage"]


def test_a_checkout_started_subscription_finds_its_row_through_the_session(live):
    import requests

    client = live.stripe
    product = client.v1.products.create({"name": "Gold"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 900,
            "currency": "usd",
            "recurring": {"interval": "week"},
        }
    )
    customer = client.v1.customers.create(
        {"email": "b@example.com", "metadata": {"caspio_customer_key": "CUST-1"}}
    )
    session = client.v1.checkout.sessions.create(
        {
            "mode": "subscription",
            "customer": customer.id,
            "line_items": [{"price": price.id, "quantity": 1}],
            "client_reference_id": live.sub_key,
            # no caspio_subscription_key on purpose: the session is the only link
            "subscription_data": {"metadata": {"caspio_plan_key": "gold"}},
            "success_url": "http://127.0.0.1:8000/done",
            "cancel_url": "http://127.0.0.1:8000/cancelled",
        }
    )
    paid = requests.post(
        f"{live.emulator.base_url}/checkout/{session.id}",
        data={"number": "4242424242424242", "exp": "12/34"},
        allow_redirects=False,
        timeout=10,
    )
    assert paid.status_code == 303
    live.settle()
    sub = live.row("Billing_Subscriptions", "SubscriptionKey", live.sub_key)
    completed = client.v1.checkout.sessions.retrieve(session.id)
    assert (sub["Status"], sub["AccessActive"], sub["StripeSubscriptionID"]) == (
        "active",
        True,
        completed.subscription,
    )
    # 9.00 weekly: 468.00 a year, 39.00 a month
    assert (sub["YearlyValue"], sub["MonthlyValue"]) == (468, 39)
    assert live.row("Billing_Customers", "CustomerKey", "CUST-1")["AvgMonthlyTotal"] == 39
    (payment,) = list(live.caspio.select("Billing_Payments"))
    assert (payment["SubscriptionKey"], payment["Status"], payment["Amount"]) == (
        live.sub_key,
        "succeeded",
        9,
    )
    assert Inbox(live.store).list(status=DEAD) == []
