"""`caspio-stripe worker`: drain the webhook inbox in its own process (several may run on one
PostgreSQL store; they never process one event twice at once)."""

from __future__ import annotations

import signal
import threading
from typing import Any

import click

from connector.commands.common import load_services, load_settings
from connector.sync.worker import DEFAULT_LEASE_SECONDS


@click.command("worker")
@click.option("--once", is_flag=True, help="Process what is ready now, then exit.")
@click.option(
    "--lease-seconds",
    type=float,
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    help="How long a claimed event stays reserved for this worker; renewed every third of it "
    "while the worker runs, so only a dead worker's events wait this long.",
)
@click.option(
    "--max-attempts",
    type=int,
    default=10,
    show_default=True,
    help="Attempts before an event is moved to the dead state.",
)
def command(once: bool, lease_seconds: float, max_attempts: int) -> None:
    """Process Stripe events from the inbox and write the outcomes to Caspio."""
    from connector.sync.runtime import build_worker

    settings = load_settings()
    worker = build_worker(
        load_services(settings), lease_seconds=lease_seconds, max_attempts=max_attempts
    )
    if once:
        count = worker.run_until_idle()
        click.echo(
            f"processed {count} event(s): {worker.processed} done, "
            f"{worker.failed} to retry, {worker.dead} dead"
        )
        return
    stop = threading.Event()

    def _stop(_signum: int, _frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    click.echo(f"worker {worker.owner} started", err=True)
    worker.run_forever(stop)
    click.echo(f"worker {worker.owner} stopped", err=True)
