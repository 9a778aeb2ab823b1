"""`caspio-stripe caspio init`: create the bridge's Caspio tables from the mapping."""

from __future__ import annotations

import json

import click

from caspio_client.errors import CaspioError
from connector.caspio_setup import init_caspio, table_definitions
from connector.commands.common import fail, load_mapping_or_exit, load_settings
from connector.services import build_caspio_client


@click.command("init")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the table definitions (one JSON object per table) and call nothing.",
)
@click.option("--strict", is_flag=True, help="Exit 1 when an existing field's type differs.")
def command(dry_run: bool, strict: bool) -> None:
    """Create missing Caspio tables and fields; change nothing that exists."""
    settings = load_settings()
    mapping = load_mapping_or_exit(settings.bridge_mapping)
    if dry_run:
        for definition in table_definitions(mapping):
            click.echo(json.dumps(definition))
        return
    caspio = build_caspio_client(settings)
    try:
        report = init_caspio(caspio, mapping, on_line=click.echo)
    except CaspioError as error:
        fail(f"caspio init stopped: {error}")
    click.echo(report.summary())
    if strict and report.mismatches:
        raise SystemExit(1)
