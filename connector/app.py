"""`create_app(settings)`: the Flask application factory."""

from __future__ import annotations

from flask import Flask

from connector.services import Services, build_services
from connector.settings import Settings
from connector.web import (
    admin,
    api_docs,
    caspio_webhooks,
    health,
    openapi,
    portal,
    retry,
    signup,
    stripe_webhooks,
)
from connector.web.extension import EXTENSION_KEY, services_of
from connector.web.json_body import DepthLimitedJSONProvider

__all__ = ["create_app", "services_of"]
assert api_docs  # imported for its OpenAPI descriptions


def create_app(settings: Settings, *, services: Services | None = None) -> Flask:
    app = Flask("caspio_stripe")
    app.json = DepthLimitedJSONProvider(app)  # every body the app parses: depth-limited
    # Webhook bodies are capped in their blueprint; this is the outer bound for any request.
    app.config["MAX_CONTENT_LENGTH"] = 2 * 1024 * 1024
    app.extensions[EXTENSION_KEY] = services or build_services(settings)
    app.register_blueprint(health.blueprint)
    app.register_blueprint(stripe_webhooks.blueprint)
    app.register_blueprint(retry.blueprint)
    app.register_blueprint(portal.blueprint)
    app.register_blueprint(signup.blueprint)
    app.register_blueprint(caspio_webhooks.blueprint)
    app.register_blueprint(admin.blueprint)
    app.register_blueprint(openapi.blueprint)
    return app
