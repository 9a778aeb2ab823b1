"""`caspio-stripe replay`: put dead (or chosen) inbox events back in the queue, or fetch
from Stripe's Events API the events of a window the endpoint never received."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import click

from connector.commands.common import fail, load_services, load_settings
from connector.commands.timespec import SinceType

if TYPE_CHECKING:
    from connector.services import Services
    from connector.sync.inbox import Inbox


@click.command("replay")
@click.option("--event-id", "event_ids", multiple=True, help="Replay this event (repeatable).")
@click.option("--list", "list_only", is_flag=True, help="List dead events and change nothing.")
@click.option("--run", is_flag=True, help="Process the replayed events now, in this process.")
@click.option(
    "--since",
    type=SinceType(),
    default=None,
    help="Fetch Stripe's events created since this time or duration (30d at most) and "
    "process those the inbox never saw.",
)
def command(event_ids: tuple[str, ...], list_only: bool, run: bool, since: int | None) -> None:
    """Replay dead events (all of them, or those named with --event-id), or with --since
    recover from Stripe the events the webhook endpoint missed."""
    from connector.sync.inbox import DEAD, Inbox
    from connector.sync.runtime import build_worker, store_of

    settings = load_settings()
    services = load_services(settings)
    inbox = Inbox(store_of(services))
    try:
        if list_only:
            for row in inbox.list(status=DEAD, limit=1000):
                error = (row["last_error"] or "").splitlines()
                click.echo(
                    f"{row['event_id']}  {row['type']}  attempts={row['attempts']}  "
                    f"{error[0][:120] if error else ''}"
                )
            return
        if since is not None:
            _catch_up(services, inbox, since)
            run = True  # the point of --since is to apply what was missed
            count = 0
        else:
            missing = [e for e in event_ids if inbox.get(e) is None]
            if missing:
                fail(f"no such event in the inbox: {', '.join(missing)}")
            count = inbox.requeue(list(event_ids) or None, now=time.time())
            click.echo(f"requeued {count} event(s)")
        if run and (count or since is not None):
            worker = build_worker(services)
            worker.run_until_idle()
            click.echo(
                f"processed: {worker.processed} done, {worker.failed} to retry, {worker.dead} dead"
            )
    finally:
        store_of(services).dispose()


def _catch_up(services: Services, inbox: Inbox, since: int) -> None:
    from connector.sync.replay import STRIPE_EVENT_RETENTION_SECONDS, fetch_missed_events

    if since < time.time() - STRIPE_EVENT_RETENTION_SECONDS:
        click.echo("note: Stripe keeps events for 30 days; older ones cannot be fetched", err=True)
    try:
        result = fetch_missed_events(services.stripe.client, inbox, since=since)
    except Exception as error:  # stripe-python's errors: one line, nothing half-stored
        fail(f"cannot list Stripe events: {type(error).__name__}: {error}")
    click.echo(
        f"listed {result.listed} event(s) from Stripe: {len(result.stored)} new, "
        f"{result.already_seen} already received, {len(result.unreadable)} unreadable"
    )
