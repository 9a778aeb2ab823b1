"""Renewals end to end over both emulators, as `serve` runs the bridge.

N customers subscribe to one monthly plan in the Stripe emulator; its clock then moves a
month at a time. Each step's renewals are delivered as signed webhooks to the served bridge
(`create_app` on loopback, background worker as `serve` starts it), which writes the
outcomes to the Caspio emulator. A month ends when every delivery is done and the worker
has caught up. Figures are per simulated month and per renewal, from the bridge's own
meters (its Caspio client and its Stripe gateway); set-up calls go through other clients.

    python -m bench.renewals [--customers 50] [--months 3] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import stripe

from bench._common import (
    WAIT_SECONDS,
    WEBHOOK_SECRET,
    add_database_option,
    calls,
    database_url,
    emulator_settings,
    peak_rss_mib,
    positive_int,
    print_table,
    ratio,
    serve,
)
from caspio_client import CaspioClient
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.services import Services, build_services
from connector.sync.inbox import DEAD, PENDING, PROCESSING, Inbox
from connector.sync.runtime import start_background_worker
from connector.sync.worker import BackgroundWorker
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

MONTH = 31 * 86400  # one advance always passes one monthly period end (28-31 days)

KEYS = (
    "customers",
    "months",
    "database",
    "signup_s",
    "signup_events",
    "renewals",
    "deliveries",
    "failed_deliveries",
    "events_processed",
    "events_per_s",
    "caspio_calls_per_renewal",
    "caspio_writes_per_renewal",
    "stripe_calls_per_renewal",
    "month_wall_s",
    "month_wall_max_s",
    "retried",
    "dead",
    "pending",
    "peak_rss_mib",
    "calls_by",
    "per_month",
)


class Drain:
    """Waits until the emulator has delivered everything and the worker has caught up.

    Waits on the emulator's `wait_idle` and the worker's `caught_up` event; no sleeps.
    """

    def __init__(self, handle: BackgroundWorker, emulator: Any, inbox: Inbox) -> None:
        self.handle, self.emulator, self.inbox = handle, emulator, inbox
        self.delivered_at = 0.0  # when the last wait_idle returned (perf_counter)

    def unsettled(self) -> int:
        counts = self.inbox.counts()
        return sum(n for (_, status), n in counts.items() if status in (PENDING, PROCESSING))

    def __call__(self) -> int:
        """Returns events still unsettled at the deadline (0 normally)."""
        deadline = time.monotonic() + WAIT_SECONDS
        if not self.emulator.wait_idle(WAIT_SECONDS):
            raise RuntimeError("the Stripe emulator did not finish delivering webhooks")
        self.delivered_at = time.perf_counter()
        while True:
            # Cleared after the last delivery was committed, so the next `caught_up` normally
            # comes from a claim that saw every event. A claim that raced the last commit, or
            # an event waiting for its retry, shows in the count and sends us round again.
            self.handle.caught_up.clear()
            if not self.handle.caught_up.wait(max(0.0, deadline - time.monotonic())):
                raise RuntimeError("the worker did not catch up")
            left = self.unsettled()
            if not left or time.monotonic() >= deadline:
                return left


def _subscribe(count: int, stripe_client: stripe.StripeClient, caspio: CaspioClient) -> None:
    """Create `count` paying subscribers: Caspio rows first, then their Stripe side."""
    product = stripe_client.v1.products.create({"name": "Gold"})
    price = stripe_client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 2000,
            "currency": "usd",
            "recurring": {"interval": "month"},
            "lookup_key": "gold",
        }
    )
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "PlanType": "subscription"})
    for i in range(count):
        customer_key = f"CUST-{i:05d}"
        caspio.insert(
            "Billing_Customers", {"CustomerKey": customer_key, "Email": f"c{i}@example.com"}
        )
        # SubscriptionKey is a GUID Caspio makes itself.
        sub_key = caspio.insert(
            "Billing_Subscriptions", {"CustomerKey": customer_key, "PlanKey": "gold"}
        )["SubscriptionKey"]
        customer = stripe_client.v1.customers.create(
            {"email": f"c{i}@example.com", "metadata": {"caspio_customer_key": customer_key}}
        )
        card = stripe_client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        stripe_client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        stripe_client.v1.subscriptions.create(
            {
                "customer": customer.id,
                "items": [{"price": price.id}],
                "metadata": {
                    "caspio_subscription_key": sub_key,
                    "caspio_plan_key": "gold",
                    "caspio_customer_key": customer_key,
                },
            }
        )


def _payments(caspio: CaspioClient) -> int:
    return sum(1 for _ in caspio.select("Billing_Payments", fields=["InvoiceID"]))


def _month(
    number: int,
    services: Services,
    handle: BackgroundWorker,
    drain: Drain,
    stripe_handle: Any,
    admin: CaspioClient,
) -> dict[str, Any]:
    before = _payments(admin)
    delivered = len(stripe_handle.emulator.deliveries)
    processed, failed = handle.worker.processed, handle.worker.failed
    services.caspio.meter.reset()
    services.stripe.meter.reset()
    began = time.perf_counter()
    stripe_handle.advance(MONTH)
    advanced = time.perf_counter()
    pending = drain()
    finished = time.perf_counter()
    wall = finished - began
    renewals = _payments(admin) - before
    attempts = stripe_handle.emulator.deliveries[delivered:]
    caspio_snapshot = services.caspio.meter.snapshot()
    stripe_snapshot = services.stripe.meter.snapshot()
    caspio_total, caspio_writes = calls(caspio_snapshot)
    stripe_total, _ = calls(stripe_snapshot)
    events = handle.worker.processed - processed
    return {
        "month": number,
        "renewals": renewals,
        # Delivery attempts of this month: answered 2xx, or not (a retry follows, or a loss).
        "deliveries": sum(1 for d in attempts if d.status is not None and d.status < 300),
        "failed_deliveries": sum(1 for d in attempts if d.status is None or d.status >= 300),
        "events": events,
        "wall_s": wall,
        # Where the month went: the emulator's billing run, the deliveries after it, and the
        # worker's catch-up once the last delivery was in.
        "advance_s": advanced - began,
        "deliver_s": drain.delivered_at - advanced,
        "catch_up_s": finished - drain.delivered_at,
        "events_per_s": ratio(events, wall),
        "caspio_calls": caspio_total,
        "caspio_writes": caspio_writes,
        "stripe_calls": stripe_total,
        "caspio_calls_per_renewal": ratio(caspio_total, renewals),
        "stripe_calls_per_renewal": ratio(stripe_total, renewals),
        "retried": handle.worker.failed - failed,
        # Which calls a renewal costs, e.g. "PUT Billing_Payments 200" or
        # "GET /v1/subscriptions/{id} 200".
        "calls_by": Counter(
            {f"caspio {m} {t} {st}": n for (m, t, st), n in caspio_snapshot.items()}
            | {f"stripe {m} {p} {st}": n for (m, p, st), n in stripe_snapshot.items()}
        ),
        "pending": pending,
    }


def run(customers: int, months: int, database: str, webhook_workers: int = 1) -> dict[str, Any]:
    with (
        run_caspio() as caspio_emu,
        # Failed deliveries come back quickly: a benchmark must not sit out Stripe's back-off.
        run_stripe(
            webhook_retry_base=0.2, webhook_max_attempts=5, webhook_workers=webhook_workers
        ) as stripe_emu,
        database_url(database) as db_url,
    ):
        settings = emulator_settings(caspio_emu, stripe_emu, db_url)
        services = build_services(settings)
        # Set-up goes through clients of its own so the bridge's meters count only the bridge.
        admin = CaspioClient(caspio_emu.base_url, caspio_emu.client_id, caspio_emu.client_secret)
        setup_stripe = stripe.StripeClient(
            stripe_emu.api_key,
            base_addresses={"api": stripe_emu.base_url},
            max_network_retries=0,
        )
        handle: BackgroundWorker | None = None
        try:
            init_caspio(admin, services.mapping)
            app = create_app(settings, services=services)
            with serve(app) as base_url:
                handle = start_background_worker(services, idle_wait=0.05)
                stripe_emu.emulator.add_webhook_endpoint(
                    f"{base_url}/stripe/webhook", secret=WEBHOOK_SECRET
                )
                drain = Drain(handle, stripe_emu.emulator, Inbox(services.store))
                began = time.perf_counter()
                _subscribe(customers, setup_stripe, admin)
                drain()
                signup_s = time.perf_counter() - began
                signup_events = handle.worker.processed
                per_month = [
                    _month(m + 1, services, handle, drain, stripe_emu, admin) for m in range(months)
                ]
                handle.stop()
            dead = sum(
                n for (_, status), n in Inbox(services.store).counts().items() if status == DEAD
            )
        finally:
            if handle is not None:
                handle.stop()
            stripe_emu.emulator.wait_idle(10)
            admin.close()
            services.caspio.close()
            services.store.dispose()

    renewals = sum(m["renewals"] for m in per_month)
    events = sum(m["events"] for m in per_month)
    wall = sum(m["wall_s"] for m in per_month)
    return {
        "customers": customers,
        "months": months,
        "database": database,
        "signup_s": signup_s,
        "signup_events": signup_events,
        "renewals": renewals,
        "deliveries": sum(m["deliveries"] for m in per_month),
        "failed_deliveries": sum(m["failed_deliveries"] for m in per_month),
        "events_processed": events,
        "events_per_s": ratio(events, wall),
        "caspio_calls_per_renewal": ratio(sum(m["caspio_calls"] for m in per_month), renewals),
        "caspio_writes_per_renewal": ratio(sum(m["caspio_writes"] for m in per_month), renewals),
        "stripe_calls_per_renewal": ratio(sum(m["stripe_calls"] for m in per_month), renewals),
        "month_wall_s": ratio(wall, months),
        "month_wall_max_s": max(m["wall_s"] for m in per_month),
        "retried": sum(m["retried"] for m in per_month),
        "dead": dead,
        "pending": per_month[-1]["pending"],
        "peak_rss_mib": peak_rss_mib(),
        "calls_by": sum((m["calls_by"] for m in per_month), Counter()),
        "per_month": per_month,
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.renewals",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--customers", type=positive_int, default=50, help="subscribed customers (default 50)"
    )
    parser.add_argument(
        "--months", type=positive_int, default=3, help="simulated months (default 3)"
    )
    parser.add_argument(
        "--webhook-workers",
        type=positive_int,
        default=1,
        help="parallel deliveries from the Stripe emulator (default 1, in order)",
    )
    add_database_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run, print the tables and return the figures (keys: `KEYS`)."""
    args = parse_args(argv)
    f = run(args.customers, args.months, args.database, args.webhook_workers)
    print(f"\nrenewals by month ({f['customers']} customers, {f['database']})")
    print(
        "  month  renewals  events  wall s  advance s  deliver s  catch-up s  events/s"
        "  caspio/renewal  stripe/renewal  retried"
    )
    for m in f["per_month"]:
        print(
            f"  {m['month']:>5}  {m['renewals']:>8}  {m['events']:>6}  {m['wall_s']:>6.2f}"
            f"  {m['advance_s']:>9.2f}  {m['deliver_s']:>9.2f}  {m['catch_up_s']:>10.2f}"
            f"  {m['events_per_s']:>8.1f}  {m['caspio_calls_per_renewal']:>14.2f}"
            f"  {m['stripe_calls_per_renewal']:>14.2f}  {m['retried']:>7}"
        )
    print_table(
        f"renewals: {f['customers']} customers, {f['months']} months, {f['database']}",
        [
            ("sign-up: wall time, s", f["signup_s"]),
            ("sign-up: events processed", f["signup_events"]),
            ("renewals", f["renewals"]),
            ("webhooks delivered (all types)", f["deliveries"]),
            ("delivery attempts refused/failed", f["failed_deliveries"]),
            ("events processed (handled types)", f["events_processed"]),
            ("events processed / s", f["events_per_s"]),
            ("Caspio calls / renewal", f["caspio_calls_per_renewal"]),
            ("Caspio writes / renewal", f["caspio_writes_per_renewal"]),
            ("Stripe calls / renewal", f["stripe_calls_per_renewal"]),
            ("wall time / month, s (mean)", f["month_wall_s"]),
            ("wall time / month, s (max)", f["month_wall_max_s"]),
            ("events retried", f["retried"]),
            ("events dead", f["dead"]),
            ("events left unsettled", f["pending"]),
            ("peak RSS, MiB", f["peak_rss_mib"]),
        ],
    )
    print_table(
        "calls per renewal by endpoint (bridge meters)",
        [
            (name, count / f["renewals"] if f["renewals"] else 0.0)
            for name, count in sorted(f["calls_by"].items())
        ],
    )
    return f


def cli() -> int:
    f = main()
    # The bridge promises at most two Caspio calls per paid renewal; say so when it breaks.
    ok = f["caspio_calls_per_renewal"] <= 2 and not (f["dead"] or f["pending"])
    if f["caspio_calls_per_renewal"] > 2:
        print("\nNOTE: more than 2 Caspio calls per renewal")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(cli())
