"""`POST /caspio/webhook`: Caspio's outgoing webhook for Billing_Subscriptions rows.

Caspio sends its default payload (../shared/reference/caspio-rest-api.md §6): `secret`,
`messageId`, `eventType`, `objectName` and `data`, an array of rows. The secret (the one
Caspio showed when the webhook was made, CASPIO_WEBHOOK_SECRET) is compared in constant
time; a wrong or missing one gets 401 and changes nothing. Delivery is at least once, so
each `messageId` is handled once: it is claimed in the bridge's store before any work, and
released again when the work fails so that Caspio's retry does it. Each row is read again
from Caspio (a custom payload may carry only some fields, all as text) and provisioned, or
its RequestedAction done. The endpoint is off (404) while CASPIO_WEBHOOK_SECRET is unset.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from flask import Blueprint, Response, jsonify, request

from connector.billing.provisioning import SUBSCRIPTIONS, ProvisioningError, canonical_key
from connector.sync.inbox import InvalidEvent, decode_event
from connector.web.extension import current_services
from connector.web.signup import provisioner

MAX_BODY_BYTES = 1024 * 1024
MESSAGE_KIND = "caspio_message"  # key-cache kind: messageId -> first seen
EVENT_TYPES = ("table.recordInsert", "table.recordUpdate")

log = logging.getLogger(__name__)
blueprint = Blueprint("caspio_webhooks", __name__)


def _answer(status: int, **body: Any) -> tuple[Response, int]:
    return jsonify(body), status


def secret_matches(given: object, expected: str) -> bool:
    """Constant-time comparison of the payload's secret with the configured one."""
    if not isinstance(given, str) or not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


@blueprint.post("/caspio/webhook")
def receive() -> tuple[Response, int]:
    secret = current_services().settings.caspio_webhook_secret
    if secret is None:
        return _answer(404, error="the Caspio webhook is not configured")
    if request.content_length is not None and request.content_length > MAX_BODY_BYTES:
        return _answer(413, error="body too large")
    body = request.stream.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _answer(413, error="body too large")
    try:
        # The Stripe webhook's decoder: strict JSON, depth-limited (a body nested 1000 deep
        # is a 400 here, never a RecursionError).
        payload, _text = decode_event(body)
    except InvalidEvent as error:
        return _answer(400, error=str(error))
    if not isinstance(payload, dict):
        return _answer(400, error="body is not a JSON object")
    if not secret_matches(payload.get("secret"), secret.reveal()):
        log.warning("Caspio webhook with a wrong or missing secret refused")
        return _answer(401, error="wrong secret")
    message_id = payload.get("messageId")
    rows = payload.get("data")
    if not isinstance(message_id, str) or not message_id or not isinstance(rows, list):
        return _answer(400, error="messageId and data are required")

    the_provisioner = provisioner()
    table = the_provisioner.mapping.table(SUBSCRIPTIONS)
    if (
        str(payload.get("objectName", "")).lower() != table.lower()
        or payload.get("eventType") not in EVENT_TYPES
    ):
        return _answer(200, ignored=True)
    keys = the_provisioner.keys
    if not keys.claim(MESSAGE_KIND, message_id):
        return _answer(200, duplicate=True)
    key_field = the_provisioner.mapping.field(SUBSCRIPTIONS, "SubscriptionKey")
    outcomes: dict[str, str] = {}
    try:
        for row in rows:
            raw = row.get(key_field) if isinstance(row, dict) else None
            key = canonical_key(raw) if isinstance(raw, str) else None
            if key is None:
                continue
            try:
                registration = the_provisioner.registration(key)
            except ProvisioningError as error:
                log.warning("Caspio webhook row %s: %s", key, error)
                continue
            if registration is not None:
                outcomes[key] = the_provisioner.process(registration)
    except Exception:
        keys.forget(MESSAGE_KIND, message_id)  # let Caspio's retry do the work
        log.exception("Caspio webhook message %s failed; Caspio will retry", message_id)
        return _answer(500, error="processing failed")
    return _answer(200, outcomes=outcomes)
