"""`caspio-stripe serve`: the web app (and, by default, the webhook worker)."""

from __future__ import annotations

import os

import click

from connector.commands.common import load_settings


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
def command(host: str, port: int | None) -> None:
    """Serve the bridge's HTTP endpoints."""
    from werkzeug.serving import run_simple

    from connector.app import create_app

    settings = load_settings()
    app = create_app(settings)
    chosen_port = port if port is not None else int(os.environ.get("PORT", "8000"))
    run_simple(host, chosen_port, app, threaded=True)
