"""Reconcile over both emulators: what a catch-up costs after an endpoint was disabled.

N customers subscribe to a monthly plan; their renewals reach Caspio through webhooks for
`--months` months; then the endpoint is disabled for one more month (every event of that
month is lost). Reconcile then runs three times: a dry run, the repair, and a second repair
that must find nothing. Figures are the bridge's own meters for each run.

    python -m bench.reconcile [--customers 50] [--months 2] [--database sqlite|postgres]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from typing import Any

import stripe

from bench._common import (
    WEBHOOK_SECRET,
    add_database_option,
    calls,
    database_url,
    emulator_settings,
    peak_rss_mib,
    positive_int,
    print_table,
    serve,
)
from bench.renewals import MONTH, _subscribe
from caspio_client import CaspioClient
from connector.app import create_app
from connector.caspio_setup import init_caspio
from connector.services import build_services
from connector.sync.reconcile import Reconciler
from connector.sync.runtime import build_worker
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

KEYS = ("customers", "months", "database", "lost_events", "runs", "peak_rss_mib")
RUN_KEYS = (
    "objects",
    "differences",
    "rows",
    "rows_written",
    "failures",
    "stripe_calls",
    "caspio_calls",
    "caspio_writes",
    "wall_s",
)


def run(customers: int, months: int, database: str) -> dict[str, Any]:
    with (
        run_caspio() as caspio_emu,
        run_stripe(webhook_retry_base=0.2, webhook_max_attempts=5) as stripe_emu,
        database_url(database) as db_url,
    ):
        settings = emulator_settings(caspio_emu, stripe_emu, db_url)
        services = build_services(settings)
        admin = CaspioClient(caspio_emu.base_url, caspio_emu.client_id, caspio_emu.client_secret)
        setup = stripe.StripeClient(
            stripe_emu.api_key, base_addresses={"api": stripe_emu.base_url}, max_network_retries=0
        )
        try:
            init_caspio(admin, services.mapping)
            worker = build_worker(services)
            with serve(create_app(settings, services=services)) as base_url:
                endpoint = stripe_emu.emulator.add_webhook_endpoint(
                    f"{base_url}/stripe/webhook", secret=WEBHOOK_SECRET
                )
                started = stripe_emu.emulator.now()
                _subscribe(customers, setup, admin)
                for _ in range(months):
                    stripe_emu.emulator.wait_idle(120)
                    worker.run_until_idle()
                    stripe_emu.emulator.advance(MONTH)
                stripe_emu.emulator.wait_idle(120)
                worker.run_until_idle()
                setup.v1.webhook_endpoints.update(endpoint["id"], {"disabled": True})
                before = len(stripe_emu.emulator.store.all("event"))
                stripe_emu.emulator.advance(MONTH)  # a month nobody hears about
                lost = len(stripe_emu.emulator.store.all("event")) - before
            reconciler = Reconciler(
                services.store,
                services.caspio,
                services.stripe,
                mapping=services.mapping,
                retry_links=services.retry_links,
                metrics=services.metrics,
            )
            runs = {}
            for name, dry in (("dry run", True), ("repair", False), ("second repair", False)):
                services.caspio.meter.reset()
                began = time.perf_counter()
                report = reconciler.run(since=started - 86400, dry_run=dry)
                wall = time.perf_counter() - began
                runs[name] = {
                    "objects": sum(report.objects.values()),
                    "differences": len(report.differences),
                    "rows": len(report.rows),
                    "rows_written": report.rows_written,
                    "failures": len(report.failures),
                    "stripe_calls": report.stripe_calls,
                    "caspio_calls": report.caspio_calls,
                    "caspio_writes": calls(services.caspio.meter.snapshot())[1],
                    "wall_s": wall,
                }
        finally:
            stripe_emu.emulator.wait_idle(10)
            admin.close()
            services.caspio.close()
            services.store.dispose()
    return {
        "customers": customers,
        "months": months,
        "database": database,
        "lost_events": lost,
        "runs": runs,
        "peak_rss_mib": peak_rss_mib(),
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(
        prog="python -m bench.reconcile",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--customers", type=positive_int, default=50)
    parser.add_argument("--months", type=positive_int, default=2, help="months heard")
    add_database_option(parser)
    args = parser.parse_args(argv)
    f = run(args.customers, args.months, args.database)
    for name, r in f["runs"].items():
        print_table(
            f"reconcile {name}: {f['customers']} customers, {f['months']}+1 months, "
            f"{f['lost_events']} events lost, {f['database']}",
            [
                ("Stripe objects compared", r["objects"]),
                ("differences (fields)", r["differences"]),
                ("rows with a difference", r["rows"]),
                ("rows written", r["rows_written"]),
                ("could not be repaired", r["failures"]),
                ("Stripe calls", r["stripe_calls"]),
                ("Caspio calls", r["caspio_calls"]),
                ("Caspio writes", r["caspio_writes"]),
                ("wall time, s", r["wall_s"]),
            ],
        )
    print_table("process", [("peak RSS, MiB", f["peak_rss_mib"])])
    return f


if __name__ == "__main__":
    main()
