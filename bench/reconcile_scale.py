"""Reconcile at scale: N subscriptions whose webhooks were all missed, then a no-op re-run.

Set-up (not measured): N customers with a Caspio customer row and a `pending` subscription
row (as a registration form leaves them), and in the Stripe emulator a customer, a card and
a paying monthly subscription naming that row in its metadata. No webhook endpoint exists,
so Caspio never heard of any of it: the worst case a weekend outage can leave.

Measured: `Reconciler.run` (the service behind `caspio-stripe reconcile --live`) twice,
with the bridge's own clients: the first run repairs every row, the second must find and
write nothing. Per run: wall time, Caspio and Stripe calls (all, and writes), differences
and rows written.

    python -m bench.reconcile_scale [--subscriptions 10000] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from typing import Any

import stripe

from bench._common import (
    add_database_option,
    calls,
    database_url,
    emulator_settings,
    positive_int,
    print_table,
    run_main,
)
from caspio_client import CaspioClient
from connector.caspio_setup import init_caspio
from connector.services import build_services
from connector.sync.reconcile import Reconciler
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

KEYS = ("subscriptions", "first", "second")
PASS_KEYS = ("wall_s", "caspio_calls", "caspio_writes", "stripe_calls", "stripe_writes",
             "differences", "rows_written", "failures")


def seed(count: int, client: stripe.StripeClient, caspio: CaspioClient) -> None:
    product = client.v1.products.create({"name": "Gold"})
    price = client.v1.prices.create({"product": product.id, "unit_amount": 2000,
                                     "currency": "usd", "recurring": {"interval": "month"},
                                     "lookup_key": "gold"})
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"})
    for i in range(count):
        key = f"REC-{i:06d}"
        caspio.insert("Billing_Customers", {"CustomerKey": key, "Email": f"r{i}@example.com"})
        sub_key = caspio.insert("Billing_Subscriptions", {"CustomerKey": key, "PlanKey": "gold",
                                                          "Status": "pending"})["SubscriptionKey"]
        customer = client.v1.customers.create({
            "email": f"r{i}@example.com", "metadata": {"caspio_customer_key": key},
            "payment_method": "pm_card_visa",
            "invoice_settings": {"default_payment_method": "pm_card_visa"},
        })
        client.v1.subscriptions.create({
            "customer": customer.id, "items": [{"price": price.id}],
            "metadata": {"caspio_subscription_key": sub_key, "caspio_plan_key": "gold",
                         "caspio_customer_key": key},
        })


def one_pass(reconciler: Reconciler, services: Any) -> dict[str, Any]:
    services.caspio.meter.reset()
    services.stripe.meter.reset()
    began = time.perf_counter()
    report = reconciler.run(since=int(time.time()) - 30 * 86400, live=True, dry_run=False)
    wall = time.perf_counter() - began
    caspio_total, caspio_writes = calls(services.caspio.meter.snapshot())
    stripe_total, stripe_writes = calls(services.stripe.meter.snapshot())
    return {
        "wall_s": wall,
        "caspio_calls": caspio_total,
        "caspio_writes": caspio_writes,
        "stripe_calls": stripe_total,
        "stripe_writes": stripe_writes,
        "differences": len(report.differences),
        "rows_written": report.rows_written,
        "failures": len(report.failures),
        "objects": dict(report.objects),
    }


def run(count: int, database: str) -> dict[str, Any]:
    with run_caspio() as caspio_emu, run_stripe() as stripe_emu, \
            database_url(database) as store_url:
        settings = emulator_settings(caspio_emu, stripe_emu, store_url)
        services = build_services(settings)
        admin = CaspioClient(caspio_emu.base_url, caspio_emu.client_id, caspio_emu.client_secret)
        client = stripe.StripeClient(stripe_emu.api_key,
                                     base_addresses={"api": stripe_emu.base_url})
        try:
            init_caspio(admin, services.mapping)
            began = time.perf_counter()
            seed(count, client, admin)
            setup_s = time.perf_counter() - began
            reconciler = Reconciler(services.store, services.caspio, services.stripe,
                                    mapping=services.mapping)
            first = one_pass(reconciler, services)
            second = one_pass(reconciler, services)
        finally:
            admin.close()
            services.caspio.close()
            services.store.dispose()
    return {"subscriptions": count, "setup_s": setup_s, "first": first, "second": second}


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscriptions", type=positive_int, default=10_000)
    add_database_option(parser)
    args = parser.parse_args(argv)
    figures = run(args.subscriptions, args.database)
    for name, title in (("first", "first reconcile (every row missed)"),
                        ("second", "second reconcile (nothing to do)")):
        print_table(f"{title}, {args.subscriptions:,} subscriptions",
                    [(k, figures[name][k]) for k in PASS_KEYS])
    print(json.dumps(figures))
    if figures["second"]["caspio_writes"] or figures["second"]["differences"]:
        raise SystemExit("the second reconcile found or wrote something")
    return figures


if __name__ == "__main__":
    run_main(main)
