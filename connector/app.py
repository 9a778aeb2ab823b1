"""`create_app(settings)`: the Flask application factory."""

from __future__ import annotations

from flask import Flask

from connector.services import Services, build_services
from connector.settings import Settings
from connector.web import health, stripe_webhooks

EXTENSION_KEY = "caspio_stripe"


def create_app(settings: Settings, *, services: Services | None = None) -> Flask:
    app = Flask("caspio_stripe")
    # Webhook bodies are capped in their blueprint; this is the outer bound for any request.
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.extensions[EXTENSION_KEY] = services or build_services(settings)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(stripe_webhooks.blueprint)
    return app


def services_of(app: Flask) -> Services:
    services = app.extensions[EXTENSION_KEY]
    assert isinstance(services, Services)
    return services
