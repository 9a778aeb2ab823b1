"""Plan sync (`caspio-stripe sync-plans`'s service, `PlanCatalog`) over both emulators.

N plans are written to Billing_Plans in the Caspio emulator; the first sync creates one
Stripe Product and Price per plan and writes the ids back; the second finds nothing to
change and must write nothing to either side. Calls come from the meters of the clients the
service uses; seeding goes through another Caspio client.

    python -m bench.plan_sync [--plans 200]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from bench._common import calls, peak_rss_mib, positive_int, print_table
from caspio_client import CaspioClient
from connector.billing.catalog import OUTCOMES, PlanCatalog
from connector.caspio_setup import init_caspio
from connector.services import build_caspio_client, build_stripe_gateway
from connector.settings import Settings
from mappings import load_mapping
from sandbox.caspio.server import run_emulator as run_caspio
from sandbox.stripe.server import run_emulator as run_stripe

PASS_KEYS = (
    "wall_s",
    "plans_per_s",
    "caspio_calls",
    "caspio_writes",
    "stripe_calls",
    "stripe_writes",
    "caspio_calls_per_plan",
    "stripe_calls_per_plan",
    *OUTCOMES,
)
KEYS = ("plans", "first", "second", "peak_rss_mib")

# A spread of intervals and currencies (zero- and three-decimal ones too), as real catalogs.
INTERVALS = (("day", 30), ("week", 2), ("month", 1), ("month", 3), ("year", 1))
CURRENCIES = (("usd", Decimal("19.99")), ("jpy", Decimal("2500")), ("kwd", Decimal("4.25")))


def plan_rows(count: int) -> list[dict[str, Any]]:
    rows = []
    for i in range(count):
        interval, interval_count = INTERVALS[i % len(INTERVALS)]
        currency, amount = CURRENCIES[i % len(CURRENCIES)]
        rows.append(
            {
                "PlanKey": f"plan-{i:05d}",
                "Name": f"Plan {i}",
                "Tier": ("Gold", "Silver", "Platinum")[i % 3],
                "Description": f"The plan number {i}",
                "Amount": amount,
                "Currency": currency,
                "BillingInterval": interval,
                "IntervalCount": interval_count,
                "PlanType": "subscription",
                "Active": True,
            }
        )
    return rows


def _timed_sync(
    catalog: PlanCatalog, caspio: CaspioClient, gateway: Any, plans: int
) -> dict[str, Any]:
    caspio.meter.reset()
    gateway.meter.reset()
    began = time.perf_counter()
    report = catalog.sync()
    wall = time.perf_counter() - began
    caspio_calls, caspio_writes = calls(caspio.meter.snapshot())
    stripe_calls, stripe_writes = calls(gateway.meter.snapshot())
    figures: dict[str, Any] = {
        "wall_s": wall,
        "plans_per_s": plans / wall if wall else 0.0,
        "caspio_calls": caspio_calls,
        "caspio_writes": caspio_writes,
        "stripe_calls": stripe_calls,
        "stripe_writes": stripe_writes,
        "caspio_calls_per_plan": caspio_calls / plans,
        "stripe_calls_per_plan": stripe_calls / plans,
    }
    figures.update({outcome: report.count(outcome) for outcome in OUTCOMES})
    return figures


def run(plans: int) -> dict[str, Any]:
    with run_caspio() as caspio_emu, run_stripe() as stripe_emu:
        settings = Settings.for_tests(
            caspio_account_url=caspio_emu.base_url,
            caspio_client_id=caspio_emu.client_id,
            caspio_client_secret=caspio_emu.client_secret,
            stripe_secret_key=stripe_emu.api_key,
            stripe_api_base=stripe_emu.base_url,
        )
        mapping = load_mapping()
        admin = CaspioClient(caspio_emu.base_url, caspio_emu.client_id, caspio_emu.client_secret)
        caspio = build_caspio_client(settings)
        gateway = build_stripe_gateway(settings)
        try:
            init_caspio(admin, mapping)
            table = mapping.table("Billing_Plans")
            for row in plan_rows(plans):
                admin.insert(table, mapping.to_caspio("Billing_Plans", row))
            catalog = PlanCatalog(caspio, gateway, mapping)
            first = _timed_sync(catalog, caspio, gateway, plans)
            second = _timed_sync(catalog, caspio, gateway, plans)
        finally:
            admin.close()
            caspio.close()
    return {"plans": plans, "first": first, "second": second, "peak_rss_mib": peak_rss_mib()}


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.plan_sync",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--plans", type=positive_int, default=200, help="plans in Billing_Plans (default 200)"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run, print the table and return the figures (keys: `KEYS`, passes: `PASS_KEYS`)."""
    args = parse_args(argv)
    f = run(args.plans)
    first, second = f["first"], f["second"]
    labels = [
        ("wall time, s", "wall_s"),
        ("plans / s", "plans_per_s"),
        ("Caspio calls", "caspio_calls"),
        ("Caspio writes", "caspio_writes"),
        ("Stripe calls", "stripe_calls"),
        ("Stripe writes", "stripe_writes"),
        ("Caspio calls / plan", "caspio_calls_per_plan"),
        ("Stripe calls / plan", "stripe_calls_per_plan"),
        *((outcome, outcome) for outcome in OUTCOMES),
    ]
    print_table(f"plan sync: {f['plans']} plans, first sync", [(n, first[k]) for n, k in labels])
    print_table(
        f"plan sync: {f['plans']} plans, second (no-op) sync", [(n, second[k]) for n, k in labels]
    )
    print_table("plan sync: process", [("peak RSS, MiB", f["peak_rss_mib"])])
    print(json.dumps(f, default=str))
    return f


def cli() -> int:
    f = main()
    second = f["second"]
    # The second sync must change nothing; a write there is a finding worth a failing exit.
    if second["caspio_writes"] or second["stripe_writes"]:
        print("\nNOTE: the second sync wrote something; it should write nothing")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(cli())
