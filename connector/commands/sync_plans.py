"""`caspio-stripe sync-plans`: mirror Billing_Plans into Stripe products and prices."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click
import stripe

from caspio_client.errors import CaspioError
from connector.billing.catalog import ERROR, PlanCatalog, PlanResult
from connector.commands.common import fail, load_mapping_or_exit, load_settings
from connector.services import build_caspio_client, build_stripe_gateway


def on_terminal() -> bool:
    """A progress bar only for a person watching; logs and pipes get the summary alone."""
    return sys.stdout.isatty()


@click.command("sync-plans")
def command() -> None:
    """Create or update one Stripe product and price per plan; exit 1 if any plan failed."""
    settings = load_settings()
    mapping = load_mapping_or_exit(settings.bridge_mapping)
    catalog = PlanCatalog(build_caspio_client(settings), build_stripe_gateway(settings), mapping)
    try:
        rows = catalog.read_rows()
    except CaspioError as error:
        fail(f"cannot read plans from Caspio: {error}")

    with contextlib.ExitStack() as stack:
        bar: Any = None
        if on_terminal():
            bar = stack.enter_context(click.progressbar(length=len(rows), label="Syncing plans"))

        def on_result(result: PlanResult) -> None:
            if bar is not None:
                bar.update(1)
            if result.outcome == ERROR:
                click.echo(f"error: {result.error}", err=True)

        try:
            report = catalog.sync(rows, on_result=on_result)
        except (CaspioError, stripe.StripeError) as error:
            fail(f"sync-plans stopped: {error}")
    click.echo(report.summary())
    if report.errors:
        raise SystemExit(1)
