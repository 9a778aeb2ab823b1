"""The soak: events through the whole stack while everything breaks, then a row-by-row audit.

The bridge runs as deployed, `caspio-stripe serve` (web and worker) in its own process group
with a SQLite store on disk. Both emulators run in this process:

- the Stripe emulator delivers every event as a signed webhook, every 10th delivery twice
  (duplicates) and each published batch shuffled (reordered), retrying refused deliveries
  with back-off as Stripe does;
- the Caspio emulator fails 10 % of calls (a share of them *after* carrying the write out,
  as when the answer is lost), rate-limits 5 %, and goes down entirely (503) for
  `--outage` seconds in the middle of the run.

The workload: customers subscribe to a $20 monthly plan (Caspio row first, then the Stripe
side, as the bridge's sign-up does), then the Stripe clock moves a month at a time; 10 % of
customers switch to a card that declines (renewals fail, Stripe retries, subscriptions go
past due), and 5 % get their last payment refunded. During the run the bridge is killed
with SIGKILL `--kills` times, each time while deliveries are in flight, and restarted.

At the end, with the faults off, Caspio must equal what the Stripe emulator's state implies:
one `Billing_Payments` row per invoice above zero with its amount and status, one
`Billing_Subscriptions` status per subscription, each customer's monthly total. It prints
events sent, duplicates, faults injected, restarts, and rows lost, duplicated and wrong; it
exits 1 unless all three are zero.

    python -m bench.soak [--events 10000] [--kills 2] [--outage 60] [--seed 7]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import requests
import stripe

from bench._common import (
    WEBHOOK_SECRET,
    non_negative_float,
    non_negative_int,
    positive_int,
    print_table,
    run_main,
)
from bench.intake import bridge_command, free_port
from caspio_client import CaspioClient
from connector.caspio_setup import init_caspio
from connector.store import Store
from connector.sync.inbox import DEAD, PENDING, PROCESSING, Inbox
from mappings import load_mapping
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

MONTH = 31 * 86400
PLAN_AMOUNT = 2000  # $20.00 a month
# Events one customer makes: about 10 at sign-up, about 9 per month (invoice created,
# finalized, paid, payment succeeded, payment intent, charge, subscription updated, …).
EVENTS_PER_SIGNUP, EVENTS_PER_MONTH = 10, 9
SETTLE_SECONDS = 900.0
START_SECONDS = 60.0
KEYS = ("events_sent", "duplicates", "faults_injected", "restarts", "rows_lost",
        "rows_duplicated", "rows_wrong", "dead_events")


@dataclass
class Audit:
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    wrong: list[str] = field(default_factory=list)
    checked: int = 0


class Bridge:
    """`caspio-stripe serve` as a child process group on a fixed port, killable with SIGKILL."""

    def __init__(self, env: dict[str, str], port: int, workdir: Path) -> None:
        self.env, self.port, self.workdir = env, port, workdir
        self.process: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self.log = (workdir / "bridge.log").open("ab")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.process = subprocess.Popen(  # our own console script
            [*bridge_command(), "--log-level", "warning", "serve", "--host", "127.0.0.1",
             "--port", str(self.port)],
            env=self.env, cwd=self.workdir, stdout=self.log, stderr=self.log,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_SECONDS
        while True:
            if self.process.poll() is not None:
                raise SystemExit(f"the bridge exited at start: see {self.workdir / 'bridge.log'}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the bridge did not answer /healthz within 60 s")
            # Another process's port: polling is the only way to see it open.
            time.sleep(0.1)

    def kill(self) -> None:
        """SIGKILL the whole process group (web, worker threads, gunicorn children)."""
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            self.process = None

    def restart_after_kill(self) -> None:
        self.kill()
        self.restarts += 1
        self.start()

    def stop(self) -> None:
        if self.process is not None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()
            self.process = None
        self.log.close()


def progress(began: float, message: str) -> None:
    """A timestamped line on stderr, so a long run shows where it is."""
    print(f"[{time.perf_counter() - began:7.1f} s] {message}", file=sys.stderr, flush=True)


def bridge_env(caspio: Any, stripe_handle: Any, store_url: str, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CASPIO_", "STRIPE_", "BRIDGE_"))}
    env.update({
        "CASPIO_ACCOUNT_URL": caspio.base_url,
        "CASPIO_CLIENT_ID": caspio.client_id,
        "CASPIO_CLIENT_SECRET": caspio.client_secret,
        "STRIPE_SECRET_KEY": stripe_handle.api_key,
        "STRIPE_API_BASE": stripe_handle.base_url,
        "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "BRIDGE_DATABASE_URL": store_url,
    })
    return env


def subscribe(customers: int, client: stripe.StripeClient, caspio: CaspioClient) -> list[str]:
    """Paying subscribers; returns their Stripe customer ids."""
    product = client.v1.products.create({"name": "Gold", "metadata": {"caspio_plan_key": "gold"}})
    price = client.v1.prices.create({
        "product": product.id, "unit_amount": PLAN_AMOUNT, "currency": "usd",
        "recurring": {"interval": "month"}, "lookup_key": "gold",
    })
    caspio.insert("Billing_Plans", {"PlanKey": "gold", "Name": "Gold", "Amount": Decimal("20"),
                                    "BillingInterval": "month", "PlanType": "subscription"})
    ids = []
    for i in range(customers):
        key = f"SOAK-{i:05d}"
        caspio.insert("Billing_Customers", {"CustomerKey": key, "Email": f"s{i}@example.com"})
        sub_key = caspio.insert(
            "Billing_Subscriptions", {"CustomerKey": key, "PlanKey": "gold"}
        )["SubscriptionKey"]
        customer = client.v1.customers.create(
            {"email": f"s{i}@example.com", "metadata": {"caspio_customer_key": key}}
        )
        card = client.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
        client.v1.customers.update(
            customer.id, {"invoice_settings": {"default_payment_method": card.id}}
        )
        client.v1.subscriptions.create({
            "customer": customer.id, "items": [{"price": price.id}],
            "metadata": {"caspio_subscription_key": sub_key, "caspio_plan_key": "gold",
                         "caspio_customer_key": key},
        })
        ids.append(customer.id)
    return ids


def decline_cards(client: stripe.StripeClient, customer_ids: Sequence[str]) -> None:
    for customer_id in customer_ids:
        card = client.v1.payment_methods.attach(
            "pm_card_chargeCustomerFail", {"customer": customer_id}
        )
        client.v1.customers.update(
            customer_id, {"invoice_settings": {"default_payment_method": card.id}}
        )


def refund_last_payment(client: stripe.StripeClient, customer_id: str) -> None:
    invoices = client.v1.invoices.list({"customer": customer_id, "status": "paid", "limit": 1})
    for invoice in invoices.data:
        for payment in client.v1.invoice_payments.list({"invoice": invoice.id}).data:
            intent = payment.payment.payment_intent
            if intent:
                intent_id = intent if isinstance(intent, str) else intent.id
                client.v1.refunds.create({"payment_intent": intent_id})


def expected_payment_status(client: stripe.StripeClient, invoice: Any) -> str:
    if invoice.status == "void":
        return "void"
    if invoice.status == "paid":
        refunded = 0
        for payment in client.v1.invoice_payments.list({"invoice": invoice.id}).data:
            intent = payment.payment.payment_intent
            if intent:
                intent_id = intent if isinstance(intent, str) else intent.id
                pi = client.v1.payment_intents.retrieve(intent_id)
                if pi.latest_charge:
                    charge_id = (pi.latest_charge if isinstance(pi.latest_charge, str)
                                 else pi.latest_charge.id)
                    refunded += int(client.v1.charges.retrieve(charge_id).amount_refunded or 0)
        if refunded >= invoice.total:
            return "refunded"
        return "partially_refunded" if refunded else "succeeded"
    return "failed" if (invoice.attempt_count or 0) > 0 else "open"


def audit(client: stripe.StripeClient, caspio: CaspioClient) -> Audit:
    """Compare Caspio with what the Stripe emulator's state implies, row for row."""
    result = Audit()
    payments: dict[str, list[dict[str, Any]]] = {}
    for row in caspio.select("Billing_Payments"):
        payments.setdefault(str(row["InvoiceID"]), []).append(row)
    for invoice in client.v1.invoices.list({"limit": 100}).auto_paging_iter():
        if not invoice.total:
            continue
        result.checked += 1
        rows = payments.pop(invoice.id, [])
        if not rows:
            result.lost.append(f"payment {invoice.id}")
            continue
        if len(rows) > 1:
            result.duplicated.append(f"payment {invoice.id} x{len(rows)}")
        row = rows[0]
        want = expected_payment_status(client, invoice)
        amount = Decimal(invoice.total) / 100
        if row.get("Status") != want or Decimal(str(row.get("Amount"))) != amount:
            result.wrong.append(
                f"payment {invoice.id}: Caspio {row.get('Status')} {row.get('Amount')}, "
                f"Stripe implies {want} {amount}"
            )
    result.duplicated += [f"payment {key} (no such invoice)" for key in payments]
    totals: Counter[str] = Counter()
    subscriptions = {str(row["SubscriptionKey"]): row for row in
                     caspio.select("Billing_Subscriptions")}
    for sub in client.v1.subscriptions.list({"status": "all", "limit": 100}).auto_paging_iter():
        metadata = sub.metadata.to_dict() if sub.metadata else {}
        key = metadata.get("caspio_subscription_key")
        if not key:
            continue
        result.checked += 1
        row = subscriptions.get(key)
        if row is None:
            result.lost.append(f"subscription {key}")
        elif row.get("Status") != sub.status or row.get("StripeSubscriptionID") != sub.id:
            result.wrong.append(
                f"subscription {key}: Caspio {row.get('Status')}, Stripe {sub.status}"
            )
        if sub.status in ("active", "trialing", "past_due"):
            totals[metadata.get("caspio_customer_key", "")] += PLAN_AMOUNT
    for row in caspio.select("Billing_Customers"):
        key = str(row["CustomerKey"])
        result.checked += 1
        want = Decimal(totals.get(key, 0)) / 100
        got = row.get("AvgMonthlyTotal")
        if Decimal(str(got if got is not None else 0)) != want:
            result.wrong.append(f"customer {key}: AvgMonthlyTotal {got}, Stripe implies {want}")
    return result


def settle(stripe_handle: Any, store_url: str) -> tuple[int, int]:
    """Wait until every delivery is done and the bridge's inbox has nothing left to do.

    Returns (unsettled, dead). The inbox lives in another process's store: it is read every
    quarter second (nothing can be awaited across processes).
    """
    deadline = time.monotonic() + SETTLE_SECONDS
    began = time.perf_counter()
    if not stripe_handle.wait_idle(SETTLE_SECONDS):
        raise SystemExit("the Stripe emulator did not finish its deliveries")
    progress(began, "every delivery done")
    store = Store.from_url(store_url)
    try:
        inbox = Inbox(store)
        while True:
            counts = inbox.counts()
            unsettled = sum(n for (_, s), n in counts.items() if s in (PENDING, PROCESSING))
            dead = sum(n for (_, s), n in counts.items() if s == DEAD)
            if unsettled == 0 or time.monotonic() > deadline:
                return unsettled, dead
            time.sleep(0.25)
    finally:
        store.dispose()


@contextmanager
def outage(caspio: Any, seconds: float) -> Iterator[threading.Timer]:
    """Caspio answers 503 to everything for `seconds` of wall time, from now."""
    caspio.controls.set_faults(down=True)
    timer = threading.Timer(seconds, lambda: caspio.controls.set_faults(down=False))
    timer.start()
    try:
        yield timer
    finally:
        timer.cancel()


def plan(events: int) -> tuple[int, int]:
    """(customers, months) giving about `events` events."""
    months = 4 if events >= 4000 else 3
    customers = max(2, round(events / (EVENTS_PER_SIGNUP + months * EVENTS_PER_MONTH)))
    return customers, months


def run(events: int, kills: int, outage_seconds: float, seed: int) -> dict[str, Any]:
    customers, months = plan(events)
    faults = {"error_rate": 0.10, "error_after_commit_rate": 0.3, "rate_limit_rate": 0.05,
              "seed": seed}
    kill_months = {round((k + 1) * months / (kills + 1)) for k in range(kills)} if kills else set()
    if len(kill_months) < kills:  # one kill per billed month at most
        print(f"note: {kills} kills asked, {len(kill_months)} fit in {months} months", flush=True)
    outage_month = max(1, months // 2)
    with (
        run_caspio() as caspio,
        run_stripe(webhook_retry_base=0.5, webhook_retry_factor=1.5, webhook_max_attempts=40,
                   webhook_workers=2, seed=seed) as stripe_handle,
        tempfile.TemporaryDirectory(prefix="bench-soak-") as folder,
    ):
        workdir = Path(folder)
        store_url = f"sqlite:///{workdir}/bridge.db"
        port = free_port()
        admin = CaspioClient(caspio.base_url, caspio.client_id, caspio.client_secret)
        client = stripe.StripeClient(stripe_handle.api_key,
                                     base_addresses={"api": stripe_handle.base_url},
                                     max_network_retries=2)
        init_caspio(admin, load_mapping())
        bridge = Bridge(bridge_env(caspio, stripe_handle, store_url, port), port, workdir)
        emulator = stripe_handle.emulator
        began = time.perf_counter()
        try:
            bridge.start()
            emulator.add_webhook_endpoint(f"{bridge.url}/stripe/webhook", secret=WEBHOOK_SECRET)
            emulator.set_delivery_faults(duplicate_every=10, reorder=True, seed=seed)
            customer_ids = subscribe(customers, client, admin)
            progress(began, f"{customers} customers subscribed")
            caspio.controls.set_faults(**faults)
            decliners = customer_ids[:: 10]
            refunded = customer_ids[5:: 20]
            for month in range(1, months + 1):
                if month == 2:
                    decline_cards(client, decliners)
                before = emulator.dispatcher.attempts
                stripe_handle.advance(MONTH)
                progress(began, f"month {month} billed")
                if month in kill_months:
                    # Kill while this month's deliveries are in flight.
                    target = before + customers * EVENTS_PER_MONTH // 3
                    emulator.dispatcher.wait_attempts(target, SETTLE_SECONDS)
                    bridge.restart_after_kill()
                    progress(began, "bridge killed with SIGKILL and restarted")
                if month == outage_month and outage_seconds > 0:
                    with outage(caspio, outage_seconds) as timer:
                        timer.join()
                    progress(began, f"Caspio back after {outage_seconds:.0f} s down")
                if month == months - 1:
                    for customer_id in refunded:
                        refund_last_payment(client, customer_id)
            progress(began, "waiting for deliveries and the inbox to settle")
            unsettled, dead = settle(stripe_handle, store_url)
            progress(began, f"settled ({unsettled} unsettled, {dead} dead); auditing")
            faults_injected = sum(
                n for (_, _, status), n in caspio.controls.calls().items()
                if status in (429, 500, 503) or status == 0
            )
            caspio.controls.reset_faults()
            result = audit(client, admin)
        finally:
            bridge.stop()
            admin.close()
        wall = time.perf_counter() - began
        records = emulator.deliveries
        store = Store.from_url(store_url)
        try:
            stored = sum(Inbox(store).counts().values())
        finally:
            store.dispose()
        attempts = emulator.dispatcher.attempts
    figures = {
        "customers": customers,
        "months": months,
        "events_sent": stored,
        "delivery_attempts": attempts,
        "duplicates": sum(1 for r in records if r.ok) - len({r.event_id for r in records if r.ok}),
        "faults_injected": faults_injected,
        "outage_s": outage_seconds,
        "restarts": bridge.restarts,
        "rows_checked": result.checked,
        "rows_lost": len(result.lost),
        "rows_duplicated": len(result.duplicated),
        "rows_wrong": len(result.wrong),
        "dead_events": dead,
        "unsettled_events": unsettled,
        "wall_s": wall,
        "examples": (result.lost + result.duplicated + result.wrong)[:10],
    }
    return figures


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=positive_int, default=10_000)
    parser.add_argument("--kills", type=non_negative_int, default=2)
    parser.add_argument("--outage", type=non_negative_float, default=60.0,
                        help="Caspio down, seconds")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    figures = run(args.events, args.kills, args.outage, args.seed)
    print_table("soak", [(k, v) for k, v in figures.items() if k != "examples"])
    for example in figures["examples"]:
        print(f"  {example}")
    print(json.dumps(figures))
    if figures["rows_lost"] or figures["rows_duplicated"] or figures["rows_wrong"]:
        sys.exit(1)
    return figures


if __name__ == "__main__":
    run_main(main)
