"""Webhook ingest: signed Stripe events POSTed to the real app's `/stripe/webhook`.

The app is `connector.app.create_app` with the services `serve` builds, on a threaded
werkzeug server on loopback; several client threads post with keep-alive sessions. Only the
door is measured (verify, parse, commit to the inbox): no worker runs, so nothing reaches
Caspio or Stripe. Afterwards the inbox must hold every event exactly once.

    python -m bench.webhook_ingest [--events 1000] [--threads 4] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

import requests

from bench._common import (
    WEBHOOK_SECRET,
    add_database_option,
    database_url,
    peak_rss_mib,
    percentile,
    positive_int,
    print_table,
    ratio,
    serve,
)
from connector.app import create_app
from connector.services import build_services
from connector.settings import Settings
from connector.sync.inbox import Inbox
from connector.sync.signature import signature_header
from tests.fixtures import stripe_events as fx

KEYS = (
    "events",
    "threads",
    "database",
    "accepted",
    "rejected",
    "stored",
    "wall_s",
    "accepted_per_s",
    "latency_p50_ms",
    "latency_p95_ms",
    "latency_p99_ms",
    "latency_max_ms",
    "mean_body_bytes",
    "peak_rss_mib",
)


def renewal_events(index: int, created: int) -> list[dict[str, Any]]:
    """What Stripe sends for one paid renewal: the bridge handles five, stores two as ignored."""
    sub_id, inv_id = f"sub_bench{index:07d}", f"in_bench{index:07d}"
    intent_id, charge_id = f"pi_bench{index:07d}", f"ch_bench{index:07d}"
    sub_key, cust_key = f"SUB-{index}", f"CUST-{index}"
    open_invoice = fx.invoice(
        inv_id,
        subscription_id=sub_id,
        sub_key=sub_key,
        customer_key=cust_key,
        customer=f"cus_bench{index:07d}",
    )
    paid_invoice = fx.invoice(
        inv_id,
        subscription_id=sub_id,
        sub_key=sub_key,
        customer_key=cust_key,
        customer=f"cus_bench{index:07d}",
        status="paid",
        amount_paid=2000,
        attempt_count=1,
        paid_at=created,
    )
    intent = fx.recorded("payment_intent") | {"id": intent_id, "latest_charge": charge_id}
    objects = [
        ("invoice.created", open_invoice),
        ("invoice.finalized", open_invoice),
        ("payment_intent.succeeded", intent),
        ("charge.succeeded", fx.charge(charge_id, intent_id=intent_id)),
        ("invoice.paid", paid_invoice),
        ("invoice.payment_succeeded", paid_invoice),
        (
            "customer.subscription.updated",
            fx.subscription(sub_id, sub_key=sub_key, customer_key=cust_key),
        ),
    ]
    return [
        # Unique ids per run: a fixed counter would collide with a store reused by a caller.
        fx.event(kind, obj, created + offset, event_id=f"evt_bench{uuid.uuid4().hex[:20]}")
        for offset, (kind, obj) in enumerate(objects)
    ]


def build_bodies(count: int) -> list[bytes]:
    """`count` event bodies, indented as Stripe sends them (size matters for parsing)."""
    created = int(time.time())
    bodies: list[bytes] = []
    index = 0
    while len(bodies) < count:
        for event in renewal_events(index, created):
            bodies.append(json.dumps(event, indent=2).encode())
        index += 1
    return bodies[:count]


def _post_all(
    url: str,
    bodies: Sequence[bytes],
    latencies: list[float],
    statuses: list[int],
    start: threading.Barrier,
) -> None:
    with requests.Session() as session:
        start.wait()
        for body in bodies:
            # Signed at send time, as Stripe does; the bridge allows 300 s of skew.
            header = signature_header(WEBHOOK_SECRET, int(time.time()), body)
            began = time.perf_counter()
            response = session.post(
                url,
                data=body,
                headers={"Stripe-Signature": header, "Content-Type": "application/json"},
                timeout=30,
            )
            latencies.append(time.perf_counter() - began)
            statuses.append(response.status_code)


def run(events: int, threads: int, database: str) -> dict[str, Any]:
    bodies = build_bodies(events)
    with database_url(database) as db_url:
        settings = Settings.for_tests(
            stripe_webhook_secrets=(WEBHOOK_SECRET,), bridge_database_url=db_url
        )
        services = build_services(settings)
        try:
            app = create_app(settings, services=services)
            with serve(app) as base_url:
                url = f"{base_url}/stripe/webhook"
                per_thread = [bodies[k::threads] for k in range(threads)]
                latencies: list[list[float]] = [[] for _ in range(threads)]
                statuses: list[list[int]] = [[] for _ in range(threads)]
                # The barrier lets every client open its session before the clock starts.
                barrier = threading.Barrier(threads + 1)
                clients = [
                    threading.Thread(
                        target=_post_all,
                        args=(url, per_thread[k], latencies[k], statuses[k], barrier),
                        daemon=True,
                    )
                    for k in range(threads)
                ]
                for client in clients:
                    client.start()
                barrier.wait()
                began = time.perf_counter()
                for client in clients:
                    client.join()
                wall = time.perf_counter() - began
            stored = sum(Inbox(services.store).counts().values())
        finally:
            services.store.dispose()
            services.caspio.close()
    all_latencies = [x for chunk in latencies for x in chunk]
    all_statuses = [s for chunk in statuses for s in chunk]
    accepted = sum(1 for s in all_statuses if s == 200)
    return {
        "events": events,
        "threads": threads,
        "database": database,
        "accepted": accepted,
        "rejected": len(all_statuses) - accepted,
        "stored": stored,
        "wall_s": wall,
        "accepted_per_s": ratio(accepted, wall),
        "latency_p50_ms": percentile(all_latencies, 50) * 1000,
        "latency_p95_ms": percentile(all_latencies, 95) * 1000,
        "latency_p99_ms": percentile(all_latencies, 99) * 1000,
        "latency_max_ms": max(all_latencies, default=0.0) * 1000,
        "mean_body_bytes": ratio(sum(map(len, bodies)), len(bodies)),
        "peak_rss_mib": peak_rss_mib(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_ingest",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--events", type=positive_int, default=1000, help="events to post (default 1000)"
    )
    parser.add_argument(
        "--threads", type=positive_int, default=4, help="client threads posting at once (default 4)"
    )
    add_database_option(parser)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run, print the table and return the figures (keys: `KEYS`)."""
    args = parse_args(argv)
    figures = run(args.events, args.threads, args.database)
    print_table(
        f"webhook ingest: {figures['events']} events, {figures['threads']} client threads, "
        f"{figures['database']}",
        [
            ("accepted (200)", figures["accepted"]),
            ("rejected (non-200)", figures["rejected"]),
            ("stored in the inbox", figures["stored"]),
            ("wall time, s", figures["wall_s"]),
            ("accepted / s", figures["accepted_per_s"]),
            ("latency p50, ms", figures["latency_p50_ms"]),
            ("latency p95, ms", figures["latency_p95_ms"]),
            ("latency p99, ms", figures["latency_p99_ms"]),
            ("latency max, ms", figures["latency_max_ms"]),
            ("mean body, bytes", figures["mean_body_bytes"]),
            ("peak RSS, MiB", figures["peak_rss_mib"]),
        ],
    )
    return figures


def cli() -> int:
    figures = main()
    # Every event must be accepted and stored once; anything else is a finding, not noise.
    ok = figures["rejected"] == 0 and figures["stored"] == figures["events"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(cli())
