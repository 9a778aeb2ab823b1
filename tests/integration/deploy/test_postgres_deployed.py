"""PostgreSQL mode as deployed (compose.yaml's processes, without Docker): two gunicorn web
processes started from the image's command line, `--no-worker` style (the app factory with
run_worker=False), and two `caspio-stripe worker` processes, all on one PostgreSQL schema.

The Stripe emulator has two webhook endpoints, one per web process, so every event reaches
both at about the same moment (two processes racing to store one event), every 4th delivery
is sent twice and each batch is shuffled. Customers subscribe, a share of them switch to a
card that declines, and the clock moves two months. Then every event the emulator delivered
is in the inbox exactly once and finished (`done`, or `ignored` when the bridge has no use for
its type), and Caspio equals what Stripe's state implies, row
for row: no payment or subscription row lost, duplicated or wrong (bench/soak.py's audit).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa
import stripe

from bench._common import WEBHOOK_SECRET
from bench.soak import MONTH, audit, bridge_env, decline_cards, subscribe
from caspio_client import CaspioClient
from connector.caspio_setup import init_caspio
from connector.store import Store, inbox_events
from connector.sync.dispatch import HANDLED_TYPES
from connector.sync.inbox import DONE, IGNORED, UNFINISHED
from mappings import load_mapping
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe
from tests.deploy_files import compose, dockerfile_cmd, local
from tests.deployed import Process, free_port

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CUSTOMERS = 12
MONTHS = 2
SETTLE_SECONDS = 300.0


def inbox_rows(store_url: str) -> list[tuple[str, str, str]]:
    """(event id, type, status) of every inbox row."""
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return [(str(r.event_id), str(r.type), str(r.status)) for r in conn.execute(
                sa.select(inbox_events.c.event_id, inbox_events.c.type,
                          inbox_events.c.status))]
    finally:
        store.dispose()


def wait_settled(store_url: str, workers: list[Process]) -> list[tuple[str, str, str]]:
    """The inbox rows once none is pending or leased. It lives in other processes' store:
    read it every half second (nothing can be awaited across processes)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        rows = inbox_rows(store_url)
        if rows and all(status not in UNFINISHED for _, _, status in rows):
            return rows
        for worker in workers:
            assert worker.alive(), worker.log()
        if time.monotonic() > deadline:
            return rows
        time.sleep(0.5)


def test_two_web_processes_and_two_workers_on_one_postgresql(postgres_store_url: str,
                                                             tmp_path: Path) -> None:
    worker_command = compose()["services"]["worker"]["command"]  # type: ignore[index]
    ports = [free_port(), free_port()]
    with (
        run_caspio() as caspio,
        run_stripe(webhook_retry_base=0.5, webhook_retry_factor=1.5, webhook_max_attempts=40,
                   webhook_workers=4, seed=17) as stripe_handle,
    ):
        admin = CaspioClient(caspio.base_url, caspio.client_id, caspio.client_secret)
        client = stripe.StripeClient(stripe_handle.api_key,
                                     base_addresses={"api": stripe_handle.base_url},
                                     max_network_retries=2)
        init_caspio(admin, load_mapping())
        env = bridge_env(caspio, stripe_handle, postgres_store_url, ports[0])
        processes: list[Process] = []
        try:
            webs = [Process(f"web{i}", local(dockerfile_cmd(), port=port), env, tmp_path)
                    for i, port in enumerate(ports)]
            processes += webs
            workers = [Process(f"worker{i}", local(worker_command), env, tmp_path)
                       for i in range(2)]
            processes += workers
            for web, port in zip(webs, ports):
                web.wait_http(f"http://127.0.0.1:{port}/readyz")
            emulator = stripe_handle.emulator
            for port in ports:
                emulator.add_webhook_endpoint(f"http://127.0.0.1:{port}/stripe/webhook",
                                              secret=WEBHOOK_SECRET)
            emulator.set_delivery_faults(duplicate_every=4, reorder=True, seed=17)

            customer_ids = subscribe(CUSTOMERS, client, admin)
            decline_cards(client, customer_ids[::4])
            for _ in range(MONTHS):
                stripe_handle.advance(MONTH)
            assert stripe_handle.wait_idle(SETTLE_SECONDS), "deliveries did not finish"
            rows = wait_settled(postgres_store_url, workers)

            records = emulator.deliveries
            delivered = {r.event_id for r in records if r.status is not None
                         and 200 <= r.status < 300}
            by_url = Counter(r.url for r in records if r.status == 200)
            stored = Counter(event_id for event_id, _, _ in rows)
            assert all(by_url[f"http://127.0.0.1:{p}/stripe/webhook"] > 0 for p in ports)
            assert [e for e, n in stored.items() if n > 1] == []  # no event twice
            assert delivered - set(stored) == set()  # no event lost
            # Every event finished: `done`, or `ignored` (a type the bridge has no use for,
            # or a handled type with nothing to write); none dead or waiting.
            assert {status for _, _, status in rows} <= {DONE, IGNORED}
            assert [(t, s) for _, t, s in rows if t not in HANDLED_TYPES and s != IGNORED] == []
            done_types = {t for _, t, s in rows if s == DONE}
            assert {"invoice.paid", "invoice.payment_failed",
                    "customer.subscription.created"} <= done_types, done_types
            assert len(rows) > CUSTOMERS * 10

            result = audit(client, admin)
            assert (result.lost, result.duplicated, result.wrong) == ([], [], [])
            assert result.checked >= CUSTOMERS * (MONTHS + 2)
            failed = [p for p in admin.select("Billing_Payments") if p["Status"] == "failed"]
            assert failed, "the declining cards left failed payments"
        finally:
            codes = {p.name: p.stop() for p in processes}
            admin.close()
        assert codes == {p.name: 0 for p in processes}, {p.name: p.log()[-2000:]
                                                         for p in processes}
