"""`caspio-stripe replay`: put dead (or chosen) inbox events back in the queue."""

from __future__ import annotations

import time

import click

from connector.commands.common import fail, load_services, load_settings


@click.command("replay")
@click.option("--event-id", "event_ids", multiple=True, help="Replay this event (repeatable).")
@click.option("--list", "list_only", is_flag=True, help="List dead events and change nothing.")
@click.option("--run", is_flag=True, help="Process the replayed events now, in this process.")
def command(event_ids: tuple[str, ...], list_only: bool, run: bool) -> None:
    """Replay dead events (all of them, or those named with --event-id)."""
    from connector.sync.inbox import DEAD, Inbox
    from connector.sync.runtime import build_worker, store_of

    settings = load_settings()
    services = load_services(settings)
    inbox = Inbox(store_of(services))
    if list_only:
        for row in inbox.list(status=DEAD, limit=1000):
            click.echo(
                f"{row['event_id']}  {row['type']}  attempts={row['attempts']}  "
                f"{(row['last_error'] or '').splitlines()[0][:120] if row['last_error'] else ''}"
            )
        return
    missing = [e for e in event_ids if inbox.get(e) is None]
    if missing:
        fail(f"no such event in the inbox: {', '.join(missing)}")
    count = inbox.requeue(list(event_ids) or None, now=time.time())
    click.echo(f"requeued {count} event(s)")
    if run and count:
        worker = build_worker(services)
        worker.run_until_idle()
        click.echo(
            f"processed: {worker.processed} done, {worker.failed} to retry, {worker.dead} dead"
        )
