"""The `caspio-stripe` command group. Each command lives in `connector/commands/`."""

from __future__ import annotations

import logging

import click

from connector import redaction
from connector.commands import (
    caspio_init,
    check_config,
    provision,
    reconcile,
    replay,
    sandbox,
    serve,
    stripe_setup,
    sync_plans,
    worker,
)
from connector.logs import configure_logging, log_format_from_env


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="caspio-stripe")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
    help="How much the bridge logs to stderr.",
)
def main(log_level: str) -> None:
    """Bridge a Caspio app to Stripe subscriptions."""
    # No-op when the host (gunicorn, pytest) has configured logging already.
    configure_logging(log_level, log_format_from_env())
    # Before any command logs: no record, at any level, may carry a secret.
    redaction.install()
    if log_level != "debug":
        # stripe-python logs every request at INFO; our meters and /metrics count them.
        logging.getLogger("stripe").setLevel(logging.WARNING)


main.add_command(check_config.command)
main.add_command(serve.command)
main.add_command(sync_plans.command)
main.add_command(worker.command)
main.add_command(replay.command)
main.add_command(reconcile.command)
main.add_command(provision.command)
main.add_command(stripe_setup.group)
main.add_command(sandbox.group)


@main.group("caspio")
def caspio_group() -> None:
    """Caspio-side set-up."""


caspio_group.add_command(caspio_init.command)
