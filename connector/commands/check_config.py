"""`caspio-stripe check-config`: show the resolved settings and check both APIs answer."""

from __future__ import annotations

import re
from typing import Any

import click
import stripe

from caspio_client import CaspioClient
from caspio_client.errors import CaspioAuthError, CaspioConnectionError, CaspioError
from connector.commands.common import load_settings
from connector.settings import Settings
from connector.stripe_gateway import StripeGateway
from connector.stripe_versions import endpoint_version_problems


def network_reason(text: str) -> str:
    """A short cause for a connection failure, instead of urllib3's nested repr."""
    for pattern, reason in (
        (r"Connection refused", "connection refused"),
        (r"NameResolution|Name or service not known|getaddrinfo", "host name not found"),
        (r"[Tt]imed? ?out", "timed out"),
        (r"SSL|certificate", "TLS handshake failed"),
    ):
        if re.search(pattern, text):
            return reason
    return one_line(text)[:200]


def one_line(text: str) -> str:
    return " ".join(text.split())


def check_caspio(settings: Settings) -> str | None:
    """None when Caspio grants a token and lists tables; otherwise one line saying why."""
    # One attempt: a check should answer now, not after a minute of back-off.
    client = CaspioClient(
        settings.caspio_account_url,
        settings.caspio_client_id,
        settings.caspio_client_secret.reveal(),
        api_version=settings.caspio_api_version,
        timeout=15.0,
        max_attempts=1,
    )
    where = f"Caspio at {settings.caspio_account_url}"
    try:
        client.list_tables()
    except CaspioAuthError as error:
        return (
            f"{where} refused the credentials ({one_line(str(error))}); "
            "check CASPIO_CLIENT_ID and CASPIO_CLIENT_SECRET"
        )
    except CaspioConnectionError as error:
        return f"{where} is unreachable: {network_reason(str(error))}"
    except CaspioError as error:
        return f"{where} failed: {one_line(str(error))}"
    finally:
        client.close()
    return None


def check_stripe(settings: Settings) -> str | None:
    """None when a cheap Stripe read succeeds; otherwise one line saying why."""
    gateway = StripeGateway(
        settings.stripe_secret_key.reveal(),
        api_base=settings.stripe_api_base,
        max_network_retries=0,
        timeout=15.0,
    )
    where = f"Stripe at {settings.stripe_api_base or 'api.stripe.com'}"
    try:
        gateway.client.v1.customers.list({"limit": 1})
    except stripe.AuthenticationError as error:
        return f"{where} refused STRIPE_SECRET_KEY (HTTP {error.http_status}); check the key"
    except stripe.APIConnectionError as error:
        return f"{where} is unreachable: {network_reason(str(error))}"
    except stripe.StripeError as error:
        reason = one_line(error.user_message or type(error).__name__)
        return f"{where} failed: {type(error).__name__} (HTTP {error.http_status}): {reason}"
    return None


def check_webhook_version(settings: Settings) -> tuple[list[str], list[str]]:
    """(failures, warnings) about the Stripe webhook endpoints sending to this bridge: one
    failure per endpoint in an API version other than the pinned one (Stripe renders events
    in the endpoint's version), and `endpoint_status_problems`."""
    gateway = StripeGateway(
        settings.stripe_secret_key.reveal(),
        api_base=settings.stripe_api_base,
        max_network_retries=0,
        timeout=15.0,
    )
    url = settings.bridge_public_url.rstrip("/") + "/stripe/webhook"
    try:
        endpoints = list(
            gateway.client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter()
        )
    except stripe.StripeError as error:
        reason = one_line(error.user_message or type(error).__name__)
        return [f"Stripe webhook endpoints could not be listed: {reason}"], []
    failures, warnings = endpoint_status_problems(endpoints, url)
    return endpoint_version_problems(endpoints, url) + failures, warnings


def endpoint_status_problems(endpoints: list[Any], url: str) -> tuple[list[str], list[str]]:
    """(failures, warnings) about the endpoints sending to `url`: a FAIL per disabled one
    when none is enabled (Stripe sends a disabled endpoint nothing), a WARN when there is
    none at all (events only arrive once one is made; reconcile fills the gap)."""
    mine = [e for e in endpoints if getattr(e, "url", None) == url]
    if not mine:
        return [], [
            f"no Stripe webhook endpoint sends to {url}; the bridge receives no events. "
            "Make one with caspio-stripe stripe setup-webhook"
        ]
    if any(getattr(e, "status", None) != "disabled" for e in mine):
        return [], []
    return [
        f"Stripe webhook endpoint {getattr(e, 'id', '?')} for {url} is disabled: Stripe sends "
        "it no events. Enable it in Stripe's Dashboard (Developers > Webhooks)"
        for e in mine
    ], []


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
    stripe_failure = check_stripe(settings)
    failures = [f for f in (check_caspio(settings), stripe_failure) if f]
    warnings: list[str] = []
    if stripe_failure is None:
        endpoint_failures, warnings = check_webhook_version(settings)
        failures += endpoint_failures
    for warning in warnings:
        click.echo(f"WARN {warning}", err=True)
    for failure in failures:
        click.echo(f"FAIL {failure}", err=True)
    if failures:
        raise SystemExit(1)
    click.echo("OK: Caspio and Stripe both answered.")
