"""What every command shares: loading settings and failing with one clear line."""

from __future__ import annotations

from typing import NoReturn

import click

from connector.settings import Settings, SettingsError


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    click.echo(f"caspio-stripe: {message}", err=True)
    raise SystemExit(exit_code)


def load_settings() -> Settings:
    try:
        return Settings.from_env()
    except SettingsError as error:
        fail(f"setting {error}", exit_code=2)
