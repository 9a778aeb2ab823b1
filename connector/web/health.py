"""Operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flask import Blueprint, Response, current_app, jsonify

if TYPE_CHECKING:
    from connector.services import Services

blueprint = Blueprint("health", __name__)


def _services() -> Services:
    from connector.app import services_of

    return services_of(current_app)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is up; says nothing about Caspio or Stripe."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """Ready when the bridge's own store answers (the inbox must accept webhooks)."""
    store = _services().store
    if store is not None and hasattr(store, "ping"):
        try:
            store.ping()
        except Exception as error:  # any store failure means "not ready"
            return jsonify(status="unavailable", reason=type(error).__name__), 503
    return jsonify(status="ready"), 200


@blueprint.get("/metrics")
def metrics() -> Response:
    lines = [f"{name} {value:g}" for name, value in sorted(_services().metrics().items())]
    return Response("\n".join(lines) + "\n", mimetype="text/plain; version=0.0.4")
