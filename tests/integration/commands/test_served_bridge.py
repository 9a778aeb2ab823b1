"""The bridge as `serve` wires it: create_app + build_services + the background worker,
between the two emulators. One sign-up must end as a paid row in Caspio, and /metrics must
show the calls it cost."""

from __future__ import annotations

import threading
import time

import pytest
from click.testing import CliRunner
from werkzeug.serving import make_server

from caspio_client import where as w
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.cli import main
from connector.services import build_services
from connector.settings import Settings
from connector.sync.runtime import start_background_worker

SECRET = "whsec_served_bridge"


def wait_for(condition, timeout=20.0):
    """Poll a condition until it holds or the deadline passes (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError("condition not met before the deadline")


@pytest.fixture
def bridge(tmp_path, fresh_caspio_emulator, stripe_emulator):
    settings = Settings.for_tests(
        caspio_account_url=fresh_caspio_emulator.base_url,
        caspio_client_id=fresh_caspio_emulator.client_id,
        caspio_client_secret=fresh_caspio_emulator.client_secret,
        stripe_secret_key=stripe_emulator.api_key,
        stripe_api_base=stripe_emulator.base_url,
        stripe_webhook_secrets=(SECRET,),
        bridge_database_url=f"sqlite:///{tmp_path / 'bridge.db'}",
    )
    services = build_services(settings)
    init_caspio(services.caspio, services.mapping)
    app = create_app(settings, services=services)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    worker = start_background_worker(services, idle_wait=0.05)
    stripe_emulator.emulator.add_webhook_endpoint(
        f"http://127.0.0.1:{server.server_port}/stripe/webhook", secret=SECRET
    )
    try:
        yield services, app
    finally:
        stripe_emulator.emulator.wait_idle(10)
        worker.stop()
        server.shutdown()
        server.server_close()
        services.store.dispose()


def test_a_paid_signup_reaches_caspio_through_the_served_app(bridge, stripe_emulator):
    services, app = bridge
    caspio = services.caspio
    caspio.insert("Billing_Customers", {"CustomerKey": "CUST-9", "Email": "p@example.com"})
    sub_key = caspio.insert(
        "Billing_Subscriptions", {"CustomerKey": "CUST-9", "PlanKey": "gold"}
    )["SubscriptionKey"]
    stripe = services.stripe.client
    product = stripe.v1.products.create({"name": "Gold"})
    price = stripe.v1.prices.create(
        {"product": product.id, "unit_amount": 1250, "currency": "usd",
         "recurring": {"interval": "month"}, "lookup_key": "gold"}
    )
    customer = stripe.v1.customers.create(
        {"email": "p@example.com", "metadata": {"caspio_customer_key": "CUST-9"}}
    )
    card = stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    stripe.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": card.id}}
    )
    subscription = stripe.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}],
         "metadata": {"caspio_subscription_key": sub_key, "caspio_plan_key": "gold",
                      "caspio_customer_key": "CUST-9"}}
    )
    assert subscription.status == "active"

    def paid_row():
        row = caspio.get_one("Billing_Payments", w.eq("SubscriptionKey", sub_key))
        return row if row and row["Status"] == "succeeded" else None

    payment = wait_for(paid_row)
    assert str(payment["Amount"]) == "12.5"
    assert payment["StripeSubscriptionID"] == subscription.id
    row = wait_for(
        lambda: (r := caspio.get_one("Billing_Subscriptions", w.eq("SubscriptionKey", sub_key)))
        and r["Status"] == "active" and r
    )
    assert row["AccessActive"] is True

    def metrics_text():
        return app.test_client().get("/metrics").get_data(as_text=True)

    # invoice.paid and invoice.payment_succeeded write the same row; wait for both to settle.
    # The worker counts an event processed just after it settles it in the inbox: wait for
    # the counter too, or the test races the worker thread.
    metrics = wait_for(
        lambda: (text := metrics_text())
        and 'bridge_inbox_events{status="done",type="invoice.paid"} 1.0' in text
        and 'bridge_events_processed_total{type="invoice.paid"} 1.0' in text
        and text
    )
    assert (
        'bridge_caspio_calls_total{operation="POST",status="200",target="oauth"}' in metrics
    )
    assert app.test_client().get("/readyz").status_code == 200


def test_serve_refuses_a_bad_mapping_in_one_line(monkeypatch, tmp_path):
    bad = tmp_path / "mapping.yaml"
    bad.write_text("tables:\n  Billing_Plans:\n    fields:\n      Amont: Price\n")
    env = {
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "secret",
        "STRIPE_SECRET_KEY": "sk_test_x1",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_MAPPING": str(bad),
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}",
    }
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(main, ["serve", "--port", "0"], env=env)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Amont" in lines[0]
