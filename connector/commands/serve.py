"""`caspio-stripe serve`: the web app and, by default, the webhook worker in a thread."""

from __future__ import annotations

import os

import click

from connector.commands.common import load_services, load_settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Only accept webhooks; run `caspio-stripe worker` processes to handle them.",
)
@click.option(
    "--poll-seconds",
    type=click.IntRange(1, 86400),
    default=None,
    help="Look for new Billing_Subscriptions rows and RequestedAction this often "
    "(default: $BRIDGE_POLL_SECONDS; off when neither is set).",
)
def command(host: str, port: int | None, no_worker: bool, poll_seconds: int | None) -> None:
    """Serve the bridge's HTTP endpoints (and process webhooks unless --no-worker)."""
    from werkzeug.serving import run_simple

    from connector.app import create_app
    from connector.sync.runtime import start_background_worker

    settings = load_settings()
    services = load_services(settings)
    app = create_app(settings, services=services)
    chosen_port = port if port is not None else int(os.environ.get("PORT", "8000"))
    worker = None
    if not no_worker:
        worker = start_background_worker(services)
    poller = None
    interval = poll_seconds or settings.bridge_poll_seconds
    if interval:
        from connector.billing.poller import Poller
        from connector.billing.provisioning import Provisioner

        poller = Poller(Provisioner.from_services(services), interval).start()
    try:
        run_simple(host, chosen_port, app, threaded=True)
    finally:
        if poller is not None:
            poller.stop()
        if worker is not None:
            worker.stop()
