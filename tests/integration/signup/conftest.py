"""The served bridge between both emulators, for sign-up and provisioning.

Everything goes through real HTTP: the payer's `GET /signup/<key>`, the emulator's hosted
Checkout form, Stripe's signed webhooks into `/stripe/webhook`, Caspio's outgoing webhook
into `/caspio/webhook`, and the bridge's own Caspio and Stripe clients. The worker runs in
the test's thread (`settle`), so every outcome is awaited, never slept for.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from caspio_client import CaspioClient
from caspio_client import where as w
from connector.app import create_app
from connector.billing.catalog import sync_plans
from connector.caspio_setup import init_caspio
from connector.services import Services, build_services
from connector.settings import Settings
from connector.sync.inbox import DEAD, Inbox
from connector.sync.runtime import build_worker
from connector.sync.worker import Worker

STRIPE_SECRET = "whsec_signup_tests"
CASPIO_SECRET = "caspio-outgoing-secret-0123456789"
SUCCESS_URL = "http://127.0.0.1:9/registered"
CANCEL_URL = "http://127.0.0.1:9/cancelled"


@dataclass
class Bridge:
    url: str
    services: Services
    worker: Worker
    stripe_emulator: Any
    caspio_emulator: Any

    @property
    def caspio(self) -> CaspioClient:
        return self.services.caspio

    @property
    def stripe(self) -> Any:
        return self.services.stripe.client

    # -- Caspio side -----------------------------------------------------------------------

    def plan(self, key: str, amount: str | None = "25.00", **fields: Any) -> None:
        """A Billing_Plans row, mirrored into Stripe by the plan sync."""
        row: dict[str, Any] = {
            "PlanKey": key,
            "Name": key.title(),
            "BillingInterval": "month",
            "Active": True,
            **fields,
        }
        if amount is not None:
            row["Amount"] = Decimal(amount)
        self.caspio.insert("Billing_Plans", row)
        report = sync_plans(self.caspio, self.services.stripe, self.services.mapping)
        assert not report.errors, report.summary()

    def register(self, customer_key: str, plan_key: str, **fields: Any) -> str:
        """What the Submission Form does: a new row; Caspio makes the SubscriptionKey."""
        row = {"CustomerKey": customer_key, "PlanKey": plan_key, "Status": "pending", **fields}
        key: str = self.caspio.insert("Billing_Subscriptions", row)["SubscriptionKey"]
        return key

    def row(self, sub_key: str) -> dict[str, Any]:
        found = self.caspio.get_one("Billing_Subscriptions", w.eq("SubscriptionKey", sub_key))
        assert found is not None
        return found

    def customer_rows(self, customer_key: str) -> list[dict[str, Any]]:
        return list(
            self.caspio.select("Billing_Customers", where=w.eq("CustomerKey", customer_key))
        )

    def payments(self, sub_key: str) -> list[dict[str, Any]]:
        rows = self.caspio.select(
            "Billing_Payments", where=w.eq("SubscriptionKey", sub_key), order_by="PK_ID"
        )
        return sorted(rows, key=lambda r: (r["PaidAt"] or "", r["PK_ID"]))

    # -- the payer ------------------------------------------------------------------------

    def signup(self, path_key: str) -> requests.Response:
        return requests.get(f"{self.url}/signup/{path_key}", allow_redirects=False, timeout=20)

    def pay(self, checkout_url: str, number: str = "4242424242424242") -> requests.Response:
        form = {"number": number, "exp_month": "12", "exp_year": "34", "cvc": "123"}
        return requests.post(checkout_url, data=form, allow_redirects=False, timeout=20)

    def sign_up_and_pay(self, sub_key: str, number: str = "4242424242424242") -> str:
        answer = self.signup(sub_key)
        assert answer.status_code == 303, answer.text
        paid = self.pay(answer.headers["Location"], number)
        assert paid.status_code == 303, paid.text
        self.settle()
        return answer.headers["Location"]

    # -- time and webhooks ----------------------------------------------------------------

    def settle(self) -> None:
        """Every Stripe webhook delivered and every Caspio webhook answered, then every
        ready event processed; nothing may end dead."""
        for _ in range(5):
            assert self.stripe_emulator.wait_idle(30)
            assert self.caspio_emulator.emulator.webhooks.wait_idle(30)
            if not self.worker.run_until_idle():
                break
        dead = Inbox(self.services.store).counts()
        assert not any(status == DEAD for (_type, status) in dead), dead

    def advance_to_renewal(self, subscription_id: str) -> None:
        sub = self.stripe.v1.subscriptions.retrieve(subscription_id)
        end = max(int(item.current_period_end) for item in sub["items"].data)
        self.stripe_emulator.advance(max(0, end - self.stripe_emulator.now()))
        self.settle()

    def charged(self, subscription_id: str) -> list[int]:
        """amount_paid of every invoice, oldest first (zero for trial invoices)."""
        page = self.stripe.v1.invoices.list({"subscription": subscription_id, "limit": 100})
        return [inv.amount_paid for inv in sorted(page.data, key=lambda i: (i.created, i.number))]

    def customer_with_card(
        self, customer_key: str, card: str = "pm_card_visa", email: str = "card@example.com"
    ) -> str:
        """An existing customer with a default card, already known to Caspio."""
        customer = self.stripe.v1.customers.create(
            {"email": email, "metadata": {"caspio_customer_key": customer_key}}
        )
        pm = self.stripe.v1.payment_methods.attach(card, {"customer": customer.id})
        self.stripe.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": pm.id}}
        )
        self.caspio.insert(
            "Billing_Customers",
            {"CustomerKey": customer_key, "Email": email, "StripeCustomerID": customer.id},
        )
        return str(customer.id)


@pytest.fixture
def bridge(tmp_path, fresh_caspio_emulator, stripe_emulator) -> Iterator[Bridge]:
    settings = Settings.for_tests(
        caspio_account_url=fresh_caspio_emulator.base_url,
        caspio_client_id=fresh_caspio_emulator.client_id,
        caspio_client_secret=fresh_caspio_emulator.client_secret,
        caspio_webhook_secret=CASPIO_SECRET,
        stripe_secret_key=stripe_emulator.api_key,
        stripe_api_base=stripe_emulator.base_url,
        stripe_webhook_secrets=(STRIPE_SECRET,),
        bridge_database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
        bridge_success_url=SUCCESS_URL,
        bridge_cancel_url=CANCEL_URL,
    )
    services = build_services(settings)
    init_caspio(services.caspio, services.mapping)
    app = create_app(settings, services=services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    url = f"http://127.0.0.1:{server.server_port}"
    stripe_emulator.emulator.add_webhook_endpoint(f"{url}/stripe/webhook", secret=STRIPE_SECRET)
    worker = build_worker(services, backoff=lambda attempt: 0.0, max_attempts=10)
    try:
        yield Bridge(url, services, worker, stripe_emulator, fresh_caspio_emulator)
    finally:
        stripe_emulator.wait_idle(10)
        fresh_caspio_emulator.emulator.webhooks.wait_idle(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        services.store.dispose()
