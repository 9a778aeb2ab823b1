"""The Retry and portal links over both emulators through real HTTP.

A bridge app (`create_app`) is served on a loopback port with the real Caspio client, Stripe
gateway, store and worker; the Stripe emulator delivers signed webhooks to it and serves the
billing portal pages; tests talk to the bridge with `requests`.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from caspio_client import CaspioClient
from caspio_client import where as w
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.links.retry_links import RetryLinks
from connector.links.wiring import build_retry_links
from connector.services import Services
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.sync.runtime import build_worker
from connector.sync.worker import Worker
from mappings import load_mapping
from tests.fixtures.stores import postgres_store_url, store, store_url  # noqa: F401

SECRET = "whsec_retry_integration"
CASPIO_APP = "http://127.0.0.1:8101"  # the Caspio app's origin (BRIDGE_ALLOWED_ORIGINS)
DAY = 86400


class Clock:
    """The bridge's clock for link expiry (real time until a test moves it)."""

    def __init__(self) -> None:
        import time

        self.offset = 0.0
        self._time = time.time

    def __call__(self) -> float:
        return self._time() + self.offset


@dataclass
class Bridge:
    url: str
    caspio: CaspioClient
    stripe: Any  # stripe.StripeClient (metered by the bridge's gateway)
    emulator: Any  # the Stripe emulator handle
    store: Store
    worker: Worker
    hook: RetryLinks
    clock: Clock
    sub_key: str
    app: Any
    page_origin: str = ""
    page_html: list[str] = field(default_factory=lambda: [""])
    customer_id: str = ""
    subscription_id: str = ""
    http: requests.Session = field(default_factory=requests.Session)

    def settle(self) -> None:
        """Every webhook delivered, then every ready event processed."""
        assert self.emulator.wait_idle(30)
        self.worker.run_until_idle()
        assert self.emulator.wait_idle(30)
        self.worker.run_until_idle()

    def row(self, table: str, key_field: str, key: str) -> dict[str, Any]:
        found = self.caspio.get_one(table, w.eq(key_field, key))
        assert found is not None, f"{table} has no {key_field}={key}"
        return found

    def payment(self, invoice_id: str) -> dict[str, Any]:
        return self.row("Billing_Payments", "InvoiceID", invoice_id)

    def pay_calls(self) -> int:
        """invoices.pay calls the Stripe emulator has answered (its own call meter)."""
        return sum(
            count
            for (method, path), count in self.emulator.requests.items()
            if method == "POST" and path.endswith("/pay")
        )

    def advance(self, seconds: int) -> None:
        self.emulator.advance(seconds)
        self.settle()

    def update_card_through_portal(self, number: str = "4242424242424242") -> None:
        """Open the PortalURL from the customer row, then post a new card on Stripe's page."""
        portal_url = self.row("Billing_Customers", "CustomerKey", "CUST-1")["PortalURL"]
        opened = self.http.get(portal_url, allow_redirects=False, timeout=10)
        assert opened.status_code == 303, opened.text
        stripe_page = opened.headers["Location"]
        assert "/portal/bps_" in stripe_page
        posted = self.http.post(
            stripe_page,
            data={"number": number, "exp_month": "12", "exp_year": "2034", "cvc": "123"},
            allow_redirects=False,
            timeout=10,
        )
        assert posted.status_code == 303, posted.text
        assert posted.headers["Location"].startswith(f"{self.url}/portal/CUST-1/returned")
        self.settle()


@pytest.fixture
def bridge(store, fresh_caspio_emulator, stripe_emulator) -> Iterator[Bridge]:  # noqa: F811
    running = fresh_caspio_emulator
    caspio = CaspioClient(running.base_url, running.client_id, running.client_secret)
    mapping = load_mapping()
    init_caspio(caspio, mapping)
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"})
    sub_key = caspio.insert("Billing_Subscriptions", {"CustomerKey": "CUST-1", "PlanKey": "gold"})[
        "SubscriptionKey"
    ]

    # A stand-in for the Caspio app's pages: serves `bridge.page_html[0]` on its own origin,
    # which is in BRIDGE_ALLOWED_ORIGINS (for browser tests of the DataPage snippets).
    page_html = [""]

    def caspio_page(environ: dict[str, Any], start: Any) -> list[bytes]:
        start("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page_html[0].encode("utf-8")]

    page_server = make_server("127.0.0.1", 0, caspio_page, threaded=True)
    page_origin = f"http://127.0.0.1:{page_server.server_port}"
    page_thread = threading.Thread(target=page_server.serve_forever, args=(0.05,), daemon=True)
    page_thread.start()

    holder: list[Any] = []
    server = make_server(
        "127.0.0.1", 0, lambda environ, start: holder[0](environ, start), threaded=True
    )
    url = f"http://127.0.0.1:{server.server_port}"
    settings = Settings.for_tests(
        caspio_account_url=running.base_url,
        stripe_api_base=stripe_emulator.base_url,
        stripe_secret_key=stripe_emulator.api_key,
        stripe_webhook_secrets=(SECRET,),
        bridge_public_url=url,
        bridge_allowed_origins=(CASPIO_APP, page_origin),
    )
    gateway = StripeGateway(
        stripe_emulator.api_key, api_base=stripe_emulator.base_url, max_network_retries=0
    )
    clock = Clock()
    hook = build_retry_links(settings, store, clock=clock)
    services = Services(
        settings=settings,
        caspio=caspio,
        stripe=gateway,
        store=store,
        mapping=mapping,
        retry_links=hook,
    )
    app = create_app(settings, services=services)
    holder.append(app)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stripe_emulator.emulator.add_webhook_endpoint(f"{url}/stripe/webhook", secret=SECRET)
    worker = build_worker(services, backoff=lambda n: 0.0, max_attempts=20)
    handle = Bridge(url, caspio, gateway.client, stripe_emulator.emulator, store, worker, hook,
                    clock, sub_key, app, page_origin, page_html)
    try:
        yield handle
    finally:
        stripe_emulator.wait_idle(10)
        handle.http.close()
        for running_server, running_thread in ((server, thread), (page_server, page_thread)):
            running_server.shutdown()
            running_server.server_close()
            running_thread.join(5)
        caspio.close()


def subscribe_with_card_expiring_this_month(bridge: Bridge) -> str:
    """A Gold subscription ($20/month) paid at sign-up with a card that expires at the end of
    the emulator's current month; returns the first invoice id."""
    client = bridge.stripe
    today = dt.datetime.fromtimestamp(bridge.emulator.now(), tz=dt.timezone.utc)
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
    # What sign-up writes: the customer row knows its Stripe customer.
    bridge.caspio.insert(
        "Billing_Customers",
        {"CustomerKey": "CUST-1", "Email": "a@example.com", "StripeCustomerID": customer.id},
    )
    card = client.v1.payment_methods.create(
        {
            "type": "card",
            "card": {
                "number": "4242424242424242",
                "exp_month": today.month,
                "exp_year": today.year,
                "cvc": "123",
            },
        }
    )
    client.v1.payment_methods.attach(card.id, {"customer": customer.id})
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    sub = client.v1.subscriptions.create(
        {
            "customer": customer.id,
            "items": [{"price": price.id}],
            "metadata": {"caspio_subscription_key": bridge.sub_key, "caspio_plan_key": "gold"},
        }
    )
    bridge.customer_id, bridge.subscription_id = customer.id, sub.id
    bridge.settle()
    assert sub.status == "active"
    first = sub.latest_invoice
    assert isinstance(first, str)
    assert bridge.payment(first)["Status"] == "succeeded"
    return first


def fail_renewal(bridge: Bridge) -> str:
    """Move past the card's expiry to the next renewal; returns the failed invoice id."""
    first = subscribe_with_card_expiring_this_month(bridge)
    sub = bridge.stripe.v1.subscriptions.retrieve(bridge.subscription_id)
    period_end = sub["items"]["data"][0]["current_period_end"]
    bridge.advance(period_end - bridge.emulator.now() + 3600)  # the renewal, not yet a retry
    sub = bridge.stripe.v1.subscriptions.retrieve(bridge.subscription_id)
    assert sub.status == "past_due"
    invoice_id = sub.latest_invoice
    assert isinstance(invoice_id, str) and invoice_id != first
    return invoice_id


def token_in(url: str) -> str:
    return url.split("token=", 1)[1]
