"""Operator endpoints: liveness, readiness, Prometheus metrics."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify

from connector.metrics import CONTENT_TYPE
from connector.web.extension import current_services as _services

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    """The process is up; says nothing about the store, Caspio or Stripe."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> tuple[Response, int]:
    """200 when every readiness check passes (the store answers a real query on the inbox,
    the backlog is under BRIDGE_READY_MAX_BACKLOG, the in-process worker is alive, and any
    check another part registered); otherwise 503 naming each failing check."""
    results = _services().readiness.evaluate()
    failing = {r.name: r.reason for r in results if not r.ok}
    checks = {r.name: ("ok" if r.ok else "failing") for r in results}
    if failing:
        return jsonify(status="unavailable", checks=checks, reasons=failing), 503
    return jsonify(status="ready", checks=checks), 200


@blueprint.get("/metrics")
def metrics() -> Response:
    """Prometheus text format (prometheus_client's exposition, with HELP and TYPE). Under
    gunicorn, counters and histograms are the sums over all of the server's processes, exited
    ones included; the inbox gauges are read from the store by the answering process."""
    return Response(_services().metrics.exposition(), mimetype=None, content_type=CONTENT_TYPE)
