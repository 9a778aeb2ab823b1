"""A bridge wired to both emulators whose webhook endpoint can lose deliveries on purpose
(it answers 200 and stores nothing: the bridge never saw them, Stripe thinks they arrived)."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from werkzeug.serving import make_server

from caspio_client import CaspioClient
from caspio_client import where as w
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.links.wiring import build_retry_links
from connector.services import Services
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.sync.runtime import build_worker
from connector.sync.worker import Worker
from mappings import load_mapping

SECRET = "whsec_reconcile"


@dataclass
class Dropper:
    """WSGI middleware: while `active`, a webhook is answered 200 and never reaches the app."""

    app: Callable[..., Iterable[bytes]]
    active: bool = False
    dropped: list[str] = field(default_factory=list)
    passed: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") != "/stripe/webhook":
            return self.app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length)
        event_id = str(json.loads(body).get("id"))
        with self.lock:
            (self.dropped if self.active else self.passed).append(event_id)
        if self.active:
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"received": true}']
        import io

        environ["wsgi.input"] = io.BytesIO(body)
        return self.app(environ, start_response)


@dataclass
class Bridge:
    settings: Settings
    services: Services
    caspio: CaspioClient
    stripe: Any
    emulator: Any  # the stripe emulator handle
    store: Store
    worker: Worker
    dropper: Dropper
    env: dict[str, str]

    def settle(self) -> None:
        assert self.emulator.wait_idle(30)
        self.worker.run_until_idle()

    def row(self, table: str, key_field: str, key: str) -> dict[str, Any]:
        found = self.caspio.get_one(table, w.eq(key_field, key))
        assert found is not None, f"{table} has no {key_field}={key}"
        return found


def running_bridge(store_url: str, caspio_emulator: Any, stripe_emulator: Any) -> Iterator[Bridge]:
    settings = Settings.for_tests(
        caspio_account_url=caspio_emulator.base_url,
        caspio_client_id=caspio_emulator.client_id,
        caspio_client_secret=caspio_emulator.client_secret,
        stripe_secret_key=stripe_emulator.api_key,
        stripe_api_base=stripe_emulator.base_url,
        stripe_webhook_secrets=(SECRET,),
        bridge_database_url=store_url,
    )
    store = Store.from_url(store_url)
    mapping = load_mapping()
    caspio = CaspioClient(
        caspio_emulator.base_url,
        caspio_emulator.client_id,
        caspio_emulator.client_secret,
        max_attempts=1,
    )
    gateway = StripeGateway(
        stripe_emulator.api_key, api_base=stripe_emulator.base_url, max_network_retries=0
    )
    services = Services(settings, caspio, gateway, store=store, mapping=mapping)
    services.retry_links = build_retry_links(settings, store)
    init_caspio(caspio, mapping)
    dropper = Dropper(create_app(settings, services=services))
    server = make_server("127.0.0.1", 0, dropper, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    stripe_emulator.emulator.add_webhook_endpoint(
        f"http://127.0.0.1:{server.server_port}/stripe/webhook", secret=SECRET
    )
    env = {
        "CASPIO_ACCOUNT_URL": caspio_emulator.base_url,
        "CASPIO_CLIENT_ID": caspio_emulator.client_id,
        "CASPIO_CLIENT_SECRET": caspio_emulator.client_secret,
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": store_url,
    }
    try:
        yield Bridge(
            settings,
            services,
            caspio,
            gateway.client,
            stripe_emulator,
            store,
            build_worker(services),
            dropper,
            env,
        )
    finally:
        stripe_emulator.wait_idle(10)
        server.shutdown()
        server.server_close()
        thread.join(5)
        caspio.close()
        store.dispose()


def subscribe_customers(bridge: Bridge, count: int) -> list[tuple[str, str, str]]:
    """`count` customers with a monthly Gold subscription each: (customer key, sub key, sub id)."""
    client = bridge.stripe
    bridge.caspio.insert(
        "Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"}
    )
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
    made = []
    for n in range(count):
        key = f"CUST-{n}"
        bridge.caspio.insert(
            "Billing_Customers", {"CustomerKey": key, "Email": f"c{n}@example.com"}
        )
        sub_key = bridge.caspio.insert(
            "Billing_Subscriptions", {"CustomerKey": key, "PlanKey": "gold"}
        )["SubscriptionKey"]
        customer = client.v1.customers.create(
            {"email": f"c{n}@example.com", "metadata": {"caspio_customer_key": key}}
        )
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        sub = client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "metadata": {
                    "caspio_subscription_key": sub_key,
                    "caspio_plan_key": "gold",
                    "caspio_customer_key": key,
                },
            }
        )
        made.append((key, sub_key, sub.id))
    return made
