"""`caspio-stripe provision`: subscriptions for `pending` rows whose customer has a card,
and every RequestedAction, with a progress bar on a terminal and one summary line."""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import click
import stripe

from caspio_client.errors import CaspioError
from connector.billing.provisioning import ERROR, FAILED, Provisioner, Registration
from connector.commands.common import fail, load_services, load_settings


def on_terminal() -> bool:
    return sys.stdout.isatty()


@click.command("provision")
def command() -> None:
    """Provision pending rows (customers with a default card) and do RequestedActions.

    Rows whose customer has no card stay pending for the sign-up link, with LastError
    saying so. Exits 1 when any row failed or could not be processed."""
    settings = load_settings()
    services = load_services(settings)
    provisioner = Provisioner.from_services(services)
    try:
        rows = list(provisioner.rows_to_process())
    except CaspioError as error:
        fail(f"cannot read Billing_Subscriptions from Caspio: {error}")
    with contextlib.ExitStack() as stack:
        bar: Any = None
        if on_terminal():
            bar = stack.enter_context(click.progressbar(length=len(rows), label="Provisioning"))

        def on_row(registration: Registration, outcome: str) -> None:
            if bar is not None:
                bar.update(1)
            if outcome in (FAILED, ERROR):
                click.echo(f"{outcome}: {registration.subscription_key}", err=True)

        try:
            report = provisioner.run_pass(rows, on_row=on_row)
        except (CaspioError, stripe.StripeError) as error:
            fail(f"provision stopped: {error}")
    click.echo(report.summary())
    if report.errors:
        raise SystemExit(1)
