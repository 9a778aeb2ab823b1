"""`caspio-stripe serve`: the web app under gunicorn and, by default, the webhook worker in a
thread of the same process (settings in connector/gunicorn_conf.py)."""

from __future__ import annotations

import socket
from typing import Any

import click

from connector.commands.common import fail, load_services, load_settings
from connector.settings import SettingsError


@click.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=int, default=None, help="Port (default: $PORT or 8000).")
@click.option(
    "--no-worker",
    is_flag=True,
    help="Only accept webhooks; run `caspio-stripe worker` processes to handle them.",
)
@click.option(
    "--body-timeout",
    type=click.FloatRange(0.1, 300),
    default=None,
    help="Seconds a client has to send a whole request body before a 408 "
    "(default: 10).",
)
@click.option(
    "--poll-seconds",
    type=click.IntRange(1, 86400),
    default=None,
    help="Look for new Billing_Subscriptions rows and RequestedAction this often "
    "(default: $BRIDGE_POLL_SECONDS; off when neither is set).",
)
def command(
    host: str,
    port: int | None,
    no_worker: bool,
    body_timeout: float | None,
    poll_seconds: int | None,
) -> None:
    """Serve the bridge's HTTP endpoints (and process webhooks unless --no-worker)."""
    # Judge settings, mapping and store here, so a bad one is one line and exit 2 before
    # gunicorn starts (a worker that fails to load the app only makes gunicorn give up).
    settings = load_settings()
    try:
        # The module reads PORT and WEB_CONCURRENCY when imported (its gunicorn-file names).
        from connector.gunicorn_conf import options

        gunicorn_options = options(host, port, database_url=settings.bridge_database_url)
    except SettingsError as error:
        fail(f"setting {error}", exit_code=2)
    services = load_services(settings)
    if services.store is not None:
        services.store.dispose()
    _check_bindable(gunicorn_options["bind"])
    run_gunicorn(
        gunicorn_options,
        lambda: _app(
            run_worker=not no_worker, poll_seconds=poll_seconds, body_timeout=body_timeout
        ),
    )


def _check_bindable(bind: str) -> None:
    """Exit 2 with one line if `bind` ("host:port", "[v6]:port") cannot be listened on:
    gunicorn would retry for seconds and then print a traceback-like error. A port taken
    between this check and gunicorn's bind still gets gunicorn's own retries."""
    host, _, port_text = bind.rpartition(":")
    host = host.strip("[]")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        # The same option gunicorn sets, so a port in TIME_WAIT is not refused here.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, int(port_text)))
    except OSError as error:
        fail(f"cannot listen on {bind}: {error.strerror or error}", exit_code=2)
    finally:
        probe.close()


def _app(*, run_worker: bool, poll_seconds: int | None, body_timeout: float | None) -> Any:
    from connector.wsgi import BODY_READ_SECONDS, create_app

    return create_app(
        run_worker=run_worker,
        poll_seconds=poll_seconds,
        body_read_seconds=body_timeout or BODY_READ_SECONDS,
    )


def run_gunicorn(settings: dict[str, Any], load: Any) -> None:
    """gunicorn's documented custom application: our settings, our app factory, no argv."""
    from gunicorn.app.base import BaseApplication

    class BridgeServer(BaseApplication):
        def load_config(self) -> None:
            for key, value in settings.items():
                if key in self.cfg.settings:  # older gunicorn lacks some (control socket)
                    self.cfg.set(key, value)

        def load(self) -> Any:
            return load()

    BridgeServer().run()
