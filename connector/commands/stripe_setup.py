"""`caspio-stripe stripe setup-webhook`: create the Stripe endpoint that sends the bridge its
events, with the pinned API version (payload shapes must match what the handlers read) and
exactly the event types the bridge handles."""

from __future__ import annotations

import click
import stripe

from connector.commands.common import fail, load_settings
from connector.services import build_stripe_gateway
from connector.stripe_gateway import STRIPE_API_VERSION
from connector.sync.dispatch import HANDLED_TYPES

WEBHOOK_PATH = "/stripe/webhook"


@click.group("stripe")
def group() -> None:
    """Stripe-side set-up."""


def existing_endpoint(client: stripe.StripeClient, target: str) -> stripe.WebhookEndpoint | None:
    """The endpoint already sending to ``target``, if any. Raises stripe.StripeError."""
    for endpoint in client.v1.webhook_endpoints.list({"limit": 100}).auto_paging_iter():
        if endpoint.url == target:
            return endpoint
    return None


def create_endpoint(client: stripe.StripeClient, target: str) -> stripe.WebhookEndpoint:
    """A new endpoint for ``target`` with the pinned API version and the handled event
    types; its ``secret`` is readable only on this object. Raises stripe.StripeError."""
    events = sorted(HANDLED_TYPES)
    return client.v1.webhook_endpoints.create(
        {
            "url": target,
            # Our event types and pinned version are plain str; stripe-python types these
            # fields as Literal lists of every event type and API version it knows.
            "enabled_events": events,  # type: ignore[typeddict-item]
            "api_version": STRIPE_API_VERSION,  # type: ignore[typeddict-item]
            "description": "caspio-stripe bridge",
        }
    )


@group.command("setup-webhook")
@click.option(
    "--url",
    default=None,
    help=f"Where Stripe sends events (default: BRIDGE_PUBLIC_URL + {WEBHOOK_PATH}).",
)
def setup_webhook(url: str | None) -> None:
    """Create the webhook endpoint and print its signing secret once."""
    settings = load_settings()
    target = url or settings.bridge_public_url.rstrip("/") + WEBHOOK_PATH
    client = build_stripe_gateway(settings).client
    events = sorted(HANDLED_TYPES)
    try:
        existing = existing_endpoint(client, target)
        if existing is not None:
            # Stripe shows a secret only when the endpoint is made; a second endpoint would
            # deliver every event twice, so point at the existing one instead.
            click.echo(
                f"An endpoint for {target} already exists ({existing.id}); nothing created. "
                "Its secret is in the Stripe dashboard; delete it there to make a new one."
            )
            return
        endpoint = create_endpoint(client, target)
    except stripe.StripeError as error:
        fail(f"stripe setup-webhook failed: {type(error).__name__}: {error.user_message}")
    click.echo(
        f"Created {endpoint.id} for {target} ({len(events)} event types, "
        f"API version {STRIPE_API_VERSION})."
    )
    click.echo("Set this as STRIPE_WEBHOOK_SECRET (it is shown only once):")
    click.echo(str(endpoint.secret))
