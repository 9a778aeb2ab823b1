"""`caspio-stripe reconcile`: find and repair differences between Stripe and Caspio."""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from typing import Any

import click

from connector.commands.common import fail, load_services, load_settings
from connector.commands.timespec import SinceType


def _shown(value: Any, width: int = 40) -> str:
    text = "(empty)" if value is None or value == "" else str(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def difference_table(report: Any) -> list[str]:
    """The differences as aligned text lines: table, key, field, Caspio, Stripe, source."""
    header = ("table", "key", "field", "Caspio has", "Stripe says", "from")
    rows: list[tuple[str, ...]] = [header]
    missing_done: set[tuple[str, str]] = set()
    for d in report.differences:
        if d.missing_row:
            if (d.table, d.key) in missing_done:
                continue
            missing_done.add((d.table, d.key))
            count = sum(1 for x in report.differences if (x.table, x.key) == (d.table, d.key))
            rows.append((d.table, d.key, "(row missing)", "-", f"{count} field(s)", d.source))
        else:
            rows.append((d.table, d.key, d.field, _shown(d.caspio), _shown(d.wanted), d.source))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * n for n in widths))
    return lines


@click.command("reconcile")
@click.option(
    "--days",
    type=click.IntRange(1, 3650),
    default=30,
    show_default=True,
    help="Compare objects created in the last DAYS days.",
)
@click.option(
    "--since",
    type=SinceType(),
    default=None,
    help="Compare objects created since this time or duration (overrides --days).",
)
@click.option("--live", is_flag=True, help="Also compare every live subscription, of any age.")
@click.option("--live-only", is_flag=True, help="Compare only live subscriptions (no window).")
@click.option("--dry-run", is_flag=True, help="List the differences; change nothing.")
def command(days: int, since: int | None, live: bool, live_only: bool, dry_run: bool) -> None:
    """Compare Stripe with the Caspio tables and repair what differs.

    Reads Stripe's subscriptions, invoices, payouts and disputes of the window (100 per
    call) and only the Caspio rows they write (1,000 per page), then applies each object
    through the handler its webhook uses. Exits 1 when anything could not be repaired.
    """
    from connector.sync.reconcile import Reconciler
    from connector.sync.runtime import mapping_of, store_of

    settings = load_settings()
    services = load_services(settings)
    window = (
        None if live_only else (since if since is not None else int(time.time()) - days * 86400)
    )
    reconciler = Reconciler(
        store_of(services),
        services.caspio,
        services.stripe,
        mapping=mapping_of(services),
        past_due_access=settings.bridge_past_due_access,
        retry_links=getattr(services, "retry_links", None),
        metrics=services.metrics,
    )
    with ExitStack() as stack:
        stack.callback(reconciler.store.dispose)  # closes pooled connections (PostgreSQL)
        bar: Any = None

        def start_bar(total: int) -> None:
            nonlocal bar
            if sys.stderr.isatty() and total:
                bar = stack.enter_context(
                    click.progressbar(length=total, label="Reconciling", file=sys.stderr)
                )

        try:
            report = reconciler.run(
                since=window,
                live=live or live_only,
                dry_run=dry_run,
                on_objects=start_bar,
                progress=lambda n: bar.update(n) if bar is not None else None,
            )
        except Exception as error:  # a Stripe or Caspio failure before any repair
            fail(f"reconcile stopped: {type(error).__name__}: {error}")
    if report.differences:
        for line in difference_table(report):
            click.echo(line)
    for failure in report.failures:
        click.echo(f"could not repair {failure.source}: {failure.error}", err=True)
    click.echo(report.summary())
    if report.failures:
        raise SystemExit(1)
