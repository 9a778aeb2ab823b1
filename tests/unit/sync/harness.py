"""A bridge with the real store, inbox, worker and handlers over the fakes of fakes.py."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace
from typing import Any

from flask import Flask

from connector.settings import Settings
from connector.store import Store
from connector.sync.context import SyncContext
from connector.sync.dispatch import HANDLED_TYPES, EventDispatcher
from connector.sync.inbox import EventEnvelope, Inbox
from connector.sync.signature import signature_header
from connector.sync.worker import Worker
from connector.web import stripe_webhooks
from tests.fixtures import stripe_events as se
from tests.unit.sync.fakes import FakeCaspio, FakeStripe

WEBHOOK_SECRET = "whsec_harness"


class Clock:
    def __init__(self, now: float = 1_900_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Bridge:
    def __init__(
        self,
        store: Any,
        *,
        caspio: FakeCaspio | None = None,
        stripe: FakeStripe | None = None,
        past_due_access: bool = True,
        retry_links: Any = None,
        max_attempts: int = 10,
    ) -> None:
        self.store = store
        self.caspio = caspio or FakeCaspio()
        self.stripe = stripe if stripe is not None else FakeStripe()
        self.clock = Clock()
        self.ctx = SyncContext.build(
            store,
            self.caspio,
            stripe=self.stripe,
            past_due_access=past_due_access,
            retry_links=retry_links,
            clock=self.clock,
        )
        self.dispatcher = EventDispatcher(self.ctx)
        self.worker = Worker(
            store,
            self.dispatcher,
            clock=self.clock,
            max_attempts=max_attempts,
            backoff=lambda attempt: 60.0,
        )
        self.inbox = Inbox(store)
        self._app: Flask | None = None

    @property
    def app(self) -> Flask:
        """The real webhook endpoint over the same store (built on first use)."""
        if self._app is None:
            app = Flask("bridge-under-test")
            settings = Settings.for_tests(stripe_webhook_secrets=(WEBHOOK_SECRET,))
            app.extensions["caspio_stripe"] = SimpleNamespace(settings=settings, store=self.store)
            app.register_blueprint(stripe_webhooks.blueprint)
            self._app = app
        return self._app

    def post(self, *events: dict[str, Any]) -> None:
        """Deliver each event as Stripe does (signed, over POST /stripe/webhook), then let the
        worker run: the path a real event takes."""
        client = self.app.test_client()
        for event in events:
            body = json.dumps(event).encode()
            header = signature_header(WEBHOOK_SECRET, int(time.time()), body)
            response = client.post(
                "/stripe/webhook",
                data=body,
                headers={"Stripe-Signature": header},
                content_type="application/json",
            )
            assert response.status_code == 200, response.get_data(as_text=True)
            self.clock.now += 0.001
            self.worker.run_until_idle()

    def receive(self, *events: dict[str, Any]) -> None:
        for event in events:
            self.inbox.record(
                EventEnvelope.parse(event),
                json.dumps(event),
                now=self.clock.now,
                handled=event["type"] in HANDLED_TYPES,
            )
            self.clock.now += 0.001

    def deliver(self, *events: dict[str, Any]) -> None:
        """Receive each event and let the worker run, one at a time (arrival order matters)."""
        for event in events:
            self.receive(event)
            self.worker.run_until_idle()

    def status(self, event_id: str) -> str:
        return str(self.inbox.get(event_id)["status"])


def seed_caspio(caspio: FakeCaspio) -> None:
    """The rows the Caspio app owns before any event: plan, customer, subscription."""
    caspio.tables["Billing_Plans"] = [
        {"PlanKey": "gold", "PlanType": "subscription", "Amount": 20, "Currency": "usd"},
        {
            "PlanKey": "course",
            "PlanType": "payplan",
            "Amount": 30,
            "Balance": 100,
            "Currency": "usd",
        },
    ]
    caspio.tables["Billing_Customers"] = [{"CustomerKey": "CUST-A", "StripeCustomerID": "cus_A"}]
    caspio.tables["Billing_Subscriptions"] = [
        {"SubscriptionKey": "SUBKEY-A", "CustomerKey": "CUST-A", "PlanKey": "gold"},
        {"SubscriptionKey": "SUBKEY-B", "CustomerKey": "CUST-A", "PlanKey": "course"},
    ]


def customer_a_bridge(store: Store, *, now: int, **options: Any) -> Bridge:
    """A Bridge over seeded Caspio rows whose Stripe knows customer cus_A (CUST-A), its
    subscription sub_A (renewing 30 days after `now`) and invoice in_1's payment."""
    bridge = Bridge(store, **options)
    seed_caspio(bridge.caspio)
    bridge.stripe.customers["cus_A"] = {
        "id": "cus_A",
        "metadata": {"caspio_customer_key": "CUST-A"},
    }
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=now + 30 * 86400)
    bridge.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    return bridge
