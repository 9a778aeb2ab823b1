"""The Stripe emulator's state survives a save and a load into a new emulator: objects,
clock, and what falls due (a renewal after the restart still happens)."""

from __future__ import annotations

import http.server
import json
import queue
import threading

import pytest
import stripe

from sandbox.stripe import persistence
from sandbox.stripe.server import run_emulator


def test_a_subscription_renews_after_a_restart(tmp_path):
    path = tmp_path / "stripe.state"
    with run_emulator() as first:
        client = stripe.StripeClient(first.api_key, base_addresses={"api": first.base_url},
                                     max_network_retries=0)
        price = client.v1.prices.create({"unit_amount": 500, "currency": "usd",
                                         "recurring": {"interval": "month"},
                                         "product_data": {"name": "Gold"}})
        customer = client.v1.customers.create({"email": "a@example.com"})
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(customer.id,
                                   {"invoice_settings": {"default_payment_method": card.id}})
        sub = client.v1.subscriptions.create({"customer": customer.id,
                                              "items": [{"price": price.id}]})
        first.advance(86_400)
        now = first.now()
        persistence.save(first.emulator, path)
    with run_emulator() as second:
        assert persistence.load(second.emulator, path) is True
        assert second.now() == now
        client = stripe.StripeClient(second.api_key, base_addresses={"api": second.base_url},
                                     max_network_retries=0)
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"
        second.advance(31 * 86_400)
        invoices = client.v1.invoices.list({"subscription": sub.id}).data
        assert sorted(i.billing_reason for i in invoices) == [
            "subscription_create", "subscription_cycle"]
        assert all(i.status == "paid" for i in invoices)


def test_no_file_is_a_fresh_start_and_a_foreign_file_is_refused(tmp_path):
    with run_emulator() as handle:
        assert persistence.load(handle.emulator, tmp_path / "missing") is False
        junk = tmp_path / "junk"
        junk.write_bytes(b"garbage")
        with pytest.raises(ValueError, match="not a Stripe emulator state"):
            persistence.load(handle.emulator, junk)


class Receiver:
    """A webhook endpoint on a free loopback port; the event ids it was sent arrive on a
    queue."""

    def __init__(self) -> None:
        received: queue.Queue[str] = queue.Queue()

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers["Content-Length"]))
                received.put(json.loads(body)["id"])
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.received = received
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/stripe/webhook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_delivery_still_owed_is_sent_after_a_restart_to_the_endpoint_s_new_url(tmp_path):
    path = tmp_path / "stripe.state"
    # Nothing listens on port 9 (discard): the first attempt fails and waits a minute to retry.
    with run_emulator(webhook_retry_base=60.0) as first:
        endpoint = first.emulator.add_webhook_endpoint("http://127.0.0.1:9/stripe/webhook",
                                                       events=["customer.created"])
        client = stripe.StripeClient(first.api_key, base_addresses={"api": first.base_url},
                                     max_network_retries=0)
        customer = client.v1.customers.create({"email": "owed@example.com"})
        assert first.emulator.dispatcher.wait_attempts(1)
        event_id = first.emulator.deliveries[0].event_id
        persistence.save(first.emulator, path)  # as if killed now: the retry never ran
    receiver = Receiver()
    try:
        with run_emulator() as second:
            assert persistence.load(second.emulator, path) is True
            client = stripe.StripeClient(second.api_key,
                                         base_addresses={"api": second.base_url},
                                         max_network_retries=0)
            client.v1.webhook_endpoints.update(endpoint["id"], {"url": receiver.url})
            assert persistence.redeliver(second.emulator) == 1
            assert receiver.received.get(timeout=30) == event_id
            assert second.emulator.wait_idle()
            assert second.emulator.dispatcher.queued() == []
            assert client.v1.events.retrieve(event_id).data.object.id == customer.id
    finally:
        receiver.close()
