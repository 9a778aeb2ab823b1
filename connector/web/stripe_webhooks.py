"""`POST /stripe/webhook`: verify, commit to the inbox, answer. Nothing else happens here.

The request never calls Caspio or Stripe: it must answer Stripe fast, and processing happens
from the inbox (connector.sync.worker). Needs `current_app.extensions["caspio_stripe"]`, an
object with `.settings` (a Settings) and `.store` (a connector.store.Store, or None to open
BRIDGE_DATABASE_URL on the first request).
"""

from __future__ import annotations

import logging
import time

from flask import Blueprint, Response, current_app, jsonify, request

from connector.sync.dispatch import HANDLED_TYPES
from connector.sync.inbox import EventEnvelope, Inbox, InvalidEvent, decode_event
from connector.sync.runtime import store_of
from connector.sync.signature import SignatureError, verify
from connector.web.extension import EXTENSION_KEY

MAX_BODY_BYTES = 1024 * 1024

log = logging.getLogger(__name__)
blueprint = Blueprint("stripe_webhooks", __name__)


def _reject(status: int, reason: str, metric_reason: str) -> tuple[Response, int]:
    metrics = getattr(current_app.extensions[EXTENSION_KEY], "metrics", None)
    if metrics is not None:
        metrics.rejected(metric_reason)
    return jsonify({"error": reason}), status


@blueprint.post("/stripe/webhook")
def receive() -> tuple[Response, int]:
    services = current_app.extensions[EXTENSION_KEY]
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _reject(413, "body too large", "too_large")
    # Read at most one byte past the cap so a body without Content-Length is bounded too.
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _reject(413, "body too large", "too_large")
    now = time.time()
    secrets = [s.reveal() for s in services.settings.stripe_webhook_secrets]
    try:
        verify(body, request.headers.get("Stripe-Signature"), secrets, now=now)
    except SignatureError as exc:
        log.warning("stripe webhook rejected: %s", exc)
        return _reject(400, str(exc), "bad_signature")
    try:
        event, text = decode_event(body)
    except InvalidEvent as exc:
        return _reject(400, str(exc), "not_json")
    # Only `type` is read before EventEnvelope.parse checks the shape: check its kind first,
    # since a list or object as `type` is unhashable and `in` on a set would raise (500).
    event_type = event.get("type") if isinstance(event, dict) else None
    handled = isinstance(event_type, str) and event_type in HANDLED_TYPES
    try:
        envelope = EventEnvelope.parse(event, strict=handled)
    except InvalidEvent as exc:
        return _reject(400, str(exc), "invalid_event")
    store = store_of(services)
    problem = store.database_file_problem()
    if problem is not None:  # the event would be committed to an unlinked file: let Stripe retry
        log.error("stripe webhook refused: %s", problem)
        return _reject(503, "the bridge's store is unavailable", "store_unavailable")
    stored = Inbox(store).record(envelope, text, now=now, handled=handled)
    metrics = getattr(services, "metrics", None)
    if metrics is not None:
        if not stored:
            metrics.duplicate(envelope.type)
        else:
            metrics.received(envelope.type)
            if not handled:
                metrics.ignored(envelope.type, "unhandled_type")
    return jsonify({"received": True, "duplicate": not stored}), 200
