"""Drain: a backlog of mixed events processed into a slow Caspio, against a naive baseline.

Set-up (not measured): customers subscribe in the Stripe emulator and its clock moves a
month at a time; some cards start declining (renewals fail, Stripe retries), some customers
then fix their card and the open invoice is paid (a retry), some payments are refunded,
some cards open disputes, and payouts go to the bank. Every event is delivered to the
bridge's `/stripe/webhook` with no worker running, so the inbox holds the whole backlog.

Then the Caspio emulator answers every call `--latency` seconds late (50 ms by default) and:

- **the bridge** drains the backlog with `--workers` worker threads (each a `Worker` as
  `caspio-stripe worker` runs it, with its own clients, on one store);
- **the naive baseline** processes a sample of the same events one at a time, as a simple
  integration would: re-fetch the event's object from Stripe, read the Caspio row by its key,
  then update it (or insert it when missing).

Both are measured in the same run against the same emulators: events per second, Caspio and
Stripe calls per event, and the ratio.

    python -m bench.drain [--events 20000] [--latency 0.05] [--workers 8] [--baseline 400]
                          [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
import stripe

from bench._common import (
    WEBHOOK_SECRET,
    add_database_option,
    database_url,
    emulator_settings,
    non_negative_float,
    positive_int,
    print_table,
    ratio,
    run_main,
    serve,
)
from caspio_client import CaspioClient
from caspio_client import where as w
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.services import build_services
from connector.settings import Settings
from connector.store import engine_url, inbox_events
from connector.sync.inbox import DEAD, PENDING, PROCESSING, Inbox
from connector.sync.runtime import build_worker
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

MONTH = 31 * 86400
MONTHS = 4
# About this many events per customer over the months (sign-up, renewals, the extras).
EVENTS_PER_CUSTOMER = 26
KEYS = ("events", "bridge_events_per_s", "naive_events_per_s", "speedup",
        "bridge_caspio_calls_per_event", "naive_caspio_calls_per_event",
        "bridge_stripe_calls_per_event", "naive_stripe_calls_per_event")


def build_backlog(customers: int, client: stripe.StripeClient, caspio: CaspioClient,
                  handle: Any) -> Counter[str]:
    """Make the mixed history; returns how many customers took each path."""
    emulator = handle.emulator
    product = client.v1.products.create({"name": "Gold"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 2000,
                                     "currency": "usd", "recurring": {"interval": "month"},
                                     "lookup_key": "gold"})
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"})
    paths: Counter[str] = Counter()
    customer_ids: list[str] = []
    for i in range(customers):
        key = f"DRAIN-{i:05d}"
        caspio.insert("Billing_Customers", {"CustomerKey": key, "Email": f"d{i}@example.com"})
        sub_key = caspio.insert("Billing_Subscriptions",
                                {"CustomerKey": key, "PlanKey": "gold"})["SubscriptionKey"]
        customer = client.v1.customers.create({"email": f"d{i}@example.com",
                                               "metadata": {"caspio_customer_key": key}})
        card_id = "pm_card_createDispute" if i % 20 == 7 else "pm_card_visa"
        paths["disputes" if i % 20 == 7 else "paying"] += 1
        card = client.v1.payment_methods.attach(card_id, {"customer": customer.id})
        client.v1.customers.update(customer.id,
                                   {"invoice_settings": {"default_payment_method": card.id}})
        client.v1.subscriptions.create({
            "customer": customer.id, "items": [{"price": price.id}],
            "metadata": {"caspio_subscription_key": sub_key, "caspio_plan_key": "gold",
                         "caspio_customer_key": key},
        })
        customer_ids.append(customer.id)
    decliners = customer_ids[3::10]
    fixers = decliners[::2]
    refunded = customer_ids[5::20]
    for month in range(1, MONTHS + 1):
        if month == 2:
            for customer_id in decliners:
                card = client.v1.payment_methods.attach("pm_card_chargeCustomerFail",
                                                        {"customer": customer_id})
                client.v1.customers.update(
                    customer_id, {"invoice_settings": {"default_payment_method": card.id}})
            paths["declining"] = len(decliners)
        handle.advance(MONTH)
        if month == 3:
            # A fixed card and a retry: the open invoice is paid now.
            for customer_id in fixers:
                card = client.v1.payment_methods.attach("pm_card_visa",
                                                        {"customer": customer_id})
                client.v1.customers.update(
                    customer_id, {"invoice_settings": {"default_payment_method": card.id}})
                for invoice in client.v1.invoices.list(
                        {"customer": customer_id, "status": "open"}).data:
                    client.v1.invoices.pay(invoice.id)
            paths["retried"] = len(fixers)
            for customer_id in refunded:
                for invoice in client.v1.invoices.list(
                        {"customer": customer_id, "status": "paid", "limit": 1}).data:
                    for payment in client.v1.invoice_payments.list({"invoice": invoice.id}).data:
                        intent = payment.payment.payment_intent
                        if intent:
                            client.v1.refunds.create({"payment_intent": str(
                                intent if isinstance(intent, str) else intent.id)})
            paths["refunded"] = len(refunded)
        emulator.create_payout(10_000 * max(1, customers // 50))
        paths["payouts"] += 1
    return paths


def bridge_drain(settings: Settings, workers: int) -> tuple[float, int]:
    """Drain the inbox with `workers` worker threads; (seconds, events handled)."""
    done = Counter[str]()
    lock = threading.Lock()

    def work() -> None:
        services = build_services(settings)
        try:
            worker = build_worker(services)
            handled = worker.run_until_idle()
            with lock:
                done["events"] += handled
        finally:
            services.caspio.close()
            services.store.dispose()

    began = time.perf_counter()
    threads = [threading.Thread(target=work, name=f"drain-{n}") for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - began, done["events"]


# Where the naive integration keeps what it learns: one row per Stripe object, read before
# every write (its own table, so its rows never collide with the bridge's constraints).
NAIVE_TABLE = "Naive_Objects"
NAIVE_FIELDS = [
    {"Name": "ObjectID", "Type": "STRING", "Unique": True},
    {"Name": "ObjectType", "Type": "STRING", "Unique": False},
    {"Name": "Status", "Type": "STRING", "Unique": False},
    {"Name": "UpdatedAt", "Type": "STRING", "Unique": False},
]


def _retrieve(client: stripe.StripeClient, obj: dict[str, Any]) -> Any:
    """Re-fetch the event's object from Stripe, whatever its type."""
    kind = obj.get("object", "")
    if kind == "checkout.session":
        return client.v1.checkout.sessions.retrieve(obj["id"])
    service = getattr(client.v1, f"{kind}s", None)
    if service is None:
        raise SystemExit(f"the naive baseline cannot fetch a {kind!r}")
    return service.retrieve(obj["id"])


def naive_drain(events: Sequence[dict[str, Any]], client: stripe.StripeClient,
                caspio: CaspioClient) -> tuple[float, int]:
    """One event at a time, every event of the sample: re-fetch its object from Stripe, read
    the Caspio row, then update it (or insert it when missing)."""
    began = time.perf_counter()
    for event in events:
        obj = event["data"]["object"]
        fresh = _retrieve(client, obj)
        values = {"ObjectType": str(obj.get("object", "")),
                  "Status": str(getattr(fresh, "status", None) or ""),
                  "UpdatedAt": time.strftime("%Y-%m-%dT%H:%M:%S")}
        key = w.eq("ObjectID", obj["id"])
        if caspio.get_one(NAIVE_TABLE, key) is None:
            caspio.insert(NAIVE_TABLE, {"ObjectID": obj["id"], **values})
        else:
            caspio.update(NAIVE_TABLE, key, values)
    return time.perf_counter() - began, len(events)


def backlog_sample(store_url: str, count: int, seed: int = 18) -> list[dict[str, Any]]:
    """`count` events drawn at random (fixed seed) from the whole backlog the bridge drains
    (pending, handled types), in `created` order: the same mix of sign-ups, renewals,
    failures, refunds, disputes and payouts, not only the oldest events."""
    engine = sa.create_engine(engine_url(store_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.select(inbox_events.c.created, inbox_events.c.payload)
                .where(inbox_events.c.status == PENDING)
            ).all()
    finally:
        engine.dispose()
    chosen = random.Random(seed).sample(list(rows), min(count, len(rows)))
    chosen.sort(key=lambda row: row[0])
    return [json.loads(payload) for _created, payload in chosen]


def run(events: int, latency: float, workers: int, baseline: int, database: str) -> dict[str, Any]:
    customers = max(4, events // EVENTS_PER_CUSTOMER)
    with (
        run_caspio() as caspio_emu,
        run_stripe(webhook_retry_base=0.2, webhook_max_attempts=5, webhook_workers=4)
        as stripe_emu,
        database_url(database) as store_url,
    ):
        settings = emulator_settings(caspio_emu, stripe_emu, store_url)
        services = build_services(settings)
        admin = CaspioClient(caspio_emu.base_url, caspio_emu.client_id, caspio_emu.client_secret)
        client = stripe.StripeClient(stripe_emu.api_key,
                                     base_addresses={"api": stripe_emu.base_url},
                                     max_network_retries=2)
        try:
            init_caspio(admin, services.mapping)
            admin.create_table(NAIVE_TABLE, NAIVE_FIELDS)
            began = time.perf_counter()
            with serve(create_app(settings, services=services)) as base_url:
                stripe_emu.emulator.add_webhook_endpoint(f"{base_url}/stripe/webhook",
                                                         secret=WEBHOOK_SECRET)
                paths = build_backlog(customers, client, admin, stripe_emu)
                if not stripe_emu.wait_idle(600):
                    raise SystemExit("deliveries did not finish")
            setup_s = time.perf_counter() - began
            inbox = Inbox(services.store)
            backlog = sum(n for (_, s), n in inbox.counts().items() if s == PENDING)
            sample = backlog_sample(store_url, baseline)

            caspio_emu.controls.set_faults(latency_seconds=latency)
            caspio_emu.controls.reset_calls()
            stripe_before = sum(stripe_emu.emulator.requests.values())
            bridge_s, handled = bridge_drain(settings, workers)
            bridge_caspio = caspio_emu.controls.total_calls()
            bridge_stripe = sum(stripe_emu.emulator.requests.values()) - stripe_before
            counts = inbox.counts()
            dead = sum(n for (_, s), n in counts.items() if s == DEAD)
            left = sum(n for (_, s), n in counts.items() if s in (PENDING, PROCESSING))

            caspio_emu.controls.reset_calls()
            stripe_before = sum(stripe_emu.emulator.requests.values())
            naive_s, naive_events = naive_drain(sample, client, admin)
            naive_caspio = caspio_emu.controls.total_calls()
            naive_stripe = sum(stripe_emu.emulator.requests.values()) - stripe_before
        finally:
            admin.close()
            services.caspio.close()
            services.store.dispose()
    bridge_rate = ratio(handled, bridge_s)
    naive_rate = ratio(naive_events, naive_s)
    return {
        "database": database,
        "customers": customers,
        "paths": dict(paths),
        "setup_s": setup_s,
        "events": backlog,
        "handled": handled,
        "dead": dead,
        "left": left,
        "latency_ms": latency * 1000,
        "workers": workers,
        "bridge_s": bridge_s,
        "bridge_events_per_s": bridge_rate,
        "bridge_caspio_calls_per_event": ratio(bridge_caspio, handled),
        "bridge_stripe_calls_per_event": ratio(bridge_stripe, handled),
        "naive_events": naive_events,
        "naive_sample_types": dict(Counter(event["type"] for event in sample).most_common()),
        "naive_s": naive_s,
        "naive_events_per_s": naive_rate,
        "naive_caspio_calls_per_event": ratio(naive_caspio, naive_events),
        "naive_stripe_calls_per_event": ratio(naive_stripe, naive_events),
        "speedup": ratio(bridge_rate, naive_rate),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=positive_int, default=20_000,
                        help="backlog size (about; at least 4 customers' worth)")
    parser.add_argument("--latency", type=non_negative_float, default=0.05,
                        help="Caspio latency, seconds")
    parser.add_argument("--workers", type=positive_int, default=8, help="bridge worker threads")
    parser.add_argument("--baseline", type=positive_int, default=400,
                        help="events the naive baseline processes (a sample of the backlog)")
    add_database_option(parser)
    args = parser.parse_args(argv)
    figures = run(args.events, args.latency, args.workers, args.baseline, args.database)
    print_table("drain", [(k, v) for k, v in figures.items()
                          if k not in ("paths", "naive_sample_types")])
    print(f"  customer paths: {figures['paths']}")
    print(f"  naive sample: {figures['naive_sample_types']}")
    print(json.dumps(figures))
    return figures


if __name__ == "__main__":
    run_main(main)
