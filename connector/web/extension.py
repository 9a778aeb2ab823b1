"""Where a Flask app keeps the bridge's `Services`: one key, read by every blueprint.

Blueprints import this module, never `connector.app` (which imports the blueprints).
"""

from __future__ import annotations

from flask import Flask, current_app

from connector.services import Services

EXTENSION_KEY = "caspio_stripe"


def services_of(app: Flask) -> Services:
    """The `Services` that `create_app` stored on `app`."""
    services = app.extensions[EXTENSION_KEY]
    if not isinstance(services, Services):
        raise TypeError(f"app.extensions[{EXTENSION_KEY!r}] is not Services")
    return services


def current_services() -> Services:
    """`services_of` the app handling the current request."""
    return services_of(current_app)
