"""Marshmallow schemas of the bridge's HTTP answers and admin requests (also the source of
/openapi.json)."""

from __future__ import annotations

from marshmallow import Schema, fields, validate


class ErrorSchema(Schema):
    """An error: one line saying what was wrong."""

    error = fields.String(required=True)


class HealthSchema(Schema):
    """The process is up."""

    status = fields.String(required=True, validate=validate.OneOf(["ok"]))


class ReadySchema(Schema):
    """Readiness: each check's state and, when not ready, each failing check's reason."""

    status = fields.String(required=True, validate=validate.OneOf(["ready", "unavailable"]))
    checks = fields.Dict(
        keys=fields.String(),
        values=fields.String(validate=validate.OneOf(["ok", "failing"])),
        required=True,
    )
    reasons = fields.Dict(keys=fields.String(), values=fields.String())


class WebhookAckSchema(Schema):
    """The event is stored (or was already)."""

    received = fields.Boolean(required=True)
    duplicate = fields.Boolean(required=True)


class DeadEventSchema(Schema):
    """An event parked as dead, with its last error."""

    event_id = fields.String(required=True)
    type = fields.String(required=True)
    object_id = fields.String(required=True)
    created = fields.Integer(required=True, metadata={"description": "Stripe's event time"})
    received_at = fields.Float(required=True, metadata={"description": "unix seconds"})
    attempts = fields.Integer(required=True)
    last_error = fields.String(required=True, allow_none=True)


class DeadEventListSchema(Schema):
    """Dead events, oldest first."""

    data = fields.List(fields.Nested(DeadEventSchema), required=True)
    count = fields.Integer(required=True)


class DeadEventQuerySchema(Schema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))


class ReplayResultSchema(Schema):
    """How many events went back to the queue."""

    requeued = fields.Integer(required=True)


class ReconcileRequestSchema(Schema):
    """What to reconcile (all optional)."""

    days = fields.Integer(
        load_default=30, validate=validate.Range(min=1, max=3650), metadata={"example": 30}
    )
    since = fields.Integer(
        load_default=None,
        allow_none=True,
        validate=validate.Range(min=0),
        metadata={"description": "unix seconds; overrides days"},
    )
    live = fields.Boolean(load_default=False, metadata={"description": "every live subscription"})
    dry_run = fields.Boolean(load_default=False)


class JobSchema(Schema):
    """A background job and, once finished, its result or error."""

    id = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(["reconcile", "sync-plans"]))
    status = fields.String(
        required=True, validate=validate.OneOf(["running", "succeeded", "failed"])
    )
    started_at = fields.Float(required=True)
    finished_at = fields.Float(required=True, allow_none=True)
    status_url = fields.String(required=True)
    result = fields.Dict(required=True, allow_none=True)
    error = fields.String(required=True, allow_none=True)


class RetryAnswerSchema(Schema):
    """The Retry button's answer to a program (Accept: application/json)."""

    outcome = fields.String(required=True)
    title = fields.String(required=True)
    message = fields.String(required=True)
    retry_status = fields.String(required=True, allow_none=True)
    charged = fields.Boolean(required=True)
    amount = fields.Raw()
    reason = fields.String(allow_none=True)
    # "return" is a Python keyword: the wire name is set with data_key
    return_url = fields.String(data_key="return")


class TokenQuerySchema(Schema):
    token = fields.String()
    # the wire name is "return"
    return_url = fields.String(data_key="return")


class CaspioWebhookSchema(Schema):
    """A Caspio outgoing-webhook message (Caspio's own field names)."""

    secret = fields.String(required=True)
    messageId = fields.String(required=True)
    objectName = fields.String()
    eventType = fields.String()
    data = fields.List(fields.Dict(), required=True)


class CaspioWebhookAnswerSchema(Schema):
    """Handled (with each row's outcome), ignored, or a duplicate message."""

    outcomes = fields.Dict(keys=fields.String(), values=fields.String())
    ignored = fields.Boolean()
    duplicate = fields.Boolean()
