"""What every command shares: loading settings and failing with one clear line."""

from __future__ import annotations

from typing import NoReturn

import click

from connector.services import Services, build_services
from connector.settings import Settings, SettingsError
from mappings import Mapping, MappingError, load_mapping


def fail(message: str, exit_code: int = 1) -> NoReturn:
    """Print one line to stderr and exit non-zero."""
    click.echo(f"caspio-stripe: {message}", err=True)
    raise SystemExit(exit_code)


def load_settings() -> Settings:
    """The settings, with their secrets registered for log redaction; one line, exit 2."""
    from connector import redaction

    try:
        settings = Settings.from_env()
    except SettingsError as error:
        fail(f"setting {error}", exit_code=2)
    redaction.register_settings(settings)
    return settings


def load_mapping_or_exit(path: str | None) -> Mapping:
    """The mapping from BRIDGE_MAPPING; a bad file is one line naming the key, exit 2."""
    try:
        return load_mapping(path)
    except MappingError as error:
        fail(str(error), exit_code=2)


def load_services(settings: Settings) -> Services:
    """Build the services; a bad mapping or an unreachable store is one line, exit 2."""
    import sqlalchemy.exc

    try:
        return build_services(settings)
    except MappingError as error:
        fail(str(error), exit_code=2)
    except sqlalchemy.exc.SQLAlchemyError as error:
        cause = getattr(error, "orig", None) or error
        reason = str(cause).splitlines()[0]
        fail(f"BRIDGE_DATABASE_URL: cannot open the store: {reason}", exit_code=2)
