"""`caspio-stripe check-config`: show the resolved settings and check both APIs answer."""

from __future__ import annotations

import click
import stripe

from caspio_client.errors import CaspioAuthError, CaspioError
from connector.commands.common import load_settings
from connector.services import build_caspio_client, build_stripe_gateway
from connector.settings import Settings


def check_caspio(settings: Settings) -> str | None:
    """None when Caspio grants a token and lists tables; otherwise one line saying why."""
    client = build_caspio_client(settings)
    try:
        client.list_tables()
    except CaspioAuthError as error:
        return (
            f"Caspio at {settings.caspio_account_url} refused the credentials ({error}); "
            "check CASPIO_CLIENT_ID and CASPIO_CLIENT_SECRET"
        )
    except CaspioError as error:
        return f"Caspio at {settings.caspio_account_url} failed: {error}"
    return None


def check_stripe(settings: Settings) -> str | None:
    """None when a cheap Stripe read succeeds; otherwise one line saying why."""
    gateway = build_stripe_gateway(settings)
    try:
        gateway.client.v1.customers.list({"limit": 1})
    except stripe.AuthenticationError as error:
        return f"Stripe refused STRIPE_SECRET_KEY (HTTP {error.http_status}); check the key"
    except stripe.StripeError as error:
        reason = error.user_message or type(error).__name__
        return f"Stripe failed: {type(error).__name__} (HTTP {error.http_status}): {reason}"
    return None


@click.command("check-config")
@click.option("--offline", is_flag=True, help="Only check the settings; call neither API.")
def command(offline: bool) -> None:
    """Print the resolved settings (secrets masked) and check that Caspio and Stripe answer."""
    settings = load_settings()
    width = max(len(name) for name, _ in settings.describe())
    for name, shown in settings.describe():
        click.echo(f"{name.ljust(width)}  {shown}")
    if offline:
        return
    failures = [f for f in (check_caspio(settings), check_stripe(settings)) if f]
    for failure in failures:
        click.echo(f"FAIL {failure}", err=True)
    if failures:
        raise SystemExit(1)
    click.echo("OK: Caspio and Stripe both answered.")
