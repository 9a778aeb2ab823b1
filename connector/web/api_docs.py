"""OpenAPI descriptions of the public endpoints whose modules do not describe themselves.

A new endpoint is best described in its own module with one `describe(...)` call (see
connector/web/openapi.py); this module holds the rest. Only endpoints an app serves are
published, so describing one here never invents it.
"""

from __future__ import annotations

from connector.web.openapi import ResponseSpec, SchemaLike, describe
from connector.web.schemas import (
    CaspioWebhookAnswerSchema,
    CaspioWebhookSchema,
    ErrorSchema,
    HealthSchema,
    ReadySchema,
    RetryAnswerSchema,
    TokenQuerySchema,
    WebhookAckSchema,
)

HTML_OR_JSON: dict[str, SchemaLike | None] = {
    "text/html": None,
    "application/json": RetryAnswerSchema,
}

describe(
    "/healthz",
    "get",
    summary="The process is up",
    tags=["operations"],
    responses={200: HealthSchema},
)
describe(
    "/readyz",
    "get",
    summary="Ready to take webhooks: store, worker, backlog and registered checks",
    tags=["operations"],
    responses={200: ReadySchema, 503: ReadySchema},
)
describe(
    "/metrics",
    "get",
    summary="Prometheus metrics (text exposition format)",
    tags=["operations"],
    responses={200: ("text/plain", "Prometheus text format 0.0.4")},
)
describe(
    "/openapi.json",
    "get",
    summary="This document",
    tags=["operations"],
    responses={200: "The OpenAPI 3 description of the bridge's endpoints"},
)
describe(
    "/stripe/webhook",
    "post",
    summary="Stripe events, verified by Stripe-Signature and stored once",
    tags=["webhooks"],
    body_content_type="application/json",
    headers=[("Stripe-Signature", "t=…,v1=… signed with a STRIPE_WEBHOOK_SECRET", False)],
    responses={200: WebhookAckSchema, 400: ErrorSchema, 413: ErrorSchema},
)
describe(
    "/payments/{invoice_id}/retry",
    "get",
    summary="The Retry button's confirmation page (no charge)",
    tags=["payers"],
    query=TokenQuerySchema,
    responses={
        code: ("The page, or JSON with Accept: application/json", HTML_OR_JSON)
        for code in (200, 400, 402, 403, 404, 409, 410, 429, 503)
    },
)
describe(
    "/payments/{invoice_id}/retry",
    "post",
    summary="Retry a failed payment once (token from the form, JSON body or query)",
    tags=["payers"],
    query=TokenQuerySchema,
    responses={
        code: ("The outcome page, or JSON with Accept: application/json", HTML_OR_JSON)
        for code in (200, 202, 400, 402, 403, 404, 409, 410, 429, 503)
    },
)
describe(
    "/payments/{invoice_id}/retry",
    "options",
    summary="CORS preflight for DataPages on allowed origins",
    tags=["payers"],
    responses={204: "Preflight answered"},
)
# Every answer of a card-update link (both portal paths can be one).
PORTAL_LINK_ANSWERS: dict[int, ResponseSpec] = {
    303: "To Stripe's billing portal",
    404: ("text/html", "The link is not valid, or no card is on file"),
    410: ("text/html", "The link has expired"),
    429: ("text/html", "Too many attempts"),
    503: ("text/html", "Caspio or Stripe did not answer"),
}
describe(
    "/portal/{customer_key}",
    "get",
    summary="Open Stripe's billing portal for a signed card-update link",
    tags=["payers"],
    query=TokenQuerySchema,
    responses=PORTAL_LINK_ANSWERS,
)
describe(
    "/portal/{customer_key}/returned",
    "get",
    summary="Where the portal returns the payer when no return address was allowed",
    tags=["payers"],
    # With a token this path is a card-update link for a key ending in /returned, so it can
    # answer everything /portal/{customer_key} does; a key no route accepts is a 404.
    responses={200: ("text/html", "Card details saved"), **PORTAL_LINK_ANSWERS},
)
describe(
    "/signup/{raw_key}",
    "get",
    summary="Start Stripe Checkout for a sign-up row (SubscriptionKey)",
    tags=["payers"],
    responses={
        303: "To Stripe Checkout",
        404: ("text/html", "The link is not valid or the sign-up is complete"),
        409: ("text/html", "Sign-up cannot start right now"),
        422: ("text/html", "Stripe refused the registration for good (the row is failed)"),
        502: ("text/html", "Stripe or Caspio did not answer (a retry may succeed)"),
    },
)
describe(
    "/caspio/webhook",
    "post",
    summary="Caspio outgoing webhook: new sign-up rows (secret in the body)",
    tags=["webhooks"],
    body=CaspioWebhookSchema,
    responses={
        200: CaspioWebhookAnswerSchema,
        400: ErrorSchema,
        401: ErrorSchema,
        404: ErrorSchema,
        413: ErrorSchema,
        500: ErrorSchema,
    },
)
