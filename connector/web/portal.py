"""`GET /portal/<CustomerKey>?token=…`: a signed, expiring link to Stripe's billing portal.

The link (written to `Billing_Customers.PortalURL`) is checked with
`connector.links.portal_links`; a good one opens a new portal session for the customer's
Stripe customer (found through the Caspio row's `StripeCustomerID`) and redirects to it.
Portal sessions are short-lived, so one is made per visit. Nothing is charged here.
"""

from __future__ import annotations

import logging
from urllib.parse import quote

import stripe
from flask import Blueprint, Response, request

from connector.links.retry_flow import Outcome
from connector.links.return_urls import allowed_return
from connector.web import key_converter
from connector.web.retry import (
    allowed_origins,
    client_address,
    finish_response,
    limit,
    link_services,
    too_many,
)

log = logging.getLogger(__name__)
blueprint = Blueprint("portal", __name__)
# Before the routes below: they use the converter (deferred functions run in order).
blueprint.record_once(lambda state: key_converter.register(state.app))
_RETURNED = "/returned"


def _refusal(kind: str, status: int, title: str, message: str) -> Response:
    from connector.links.pages import page

    return finish_response(page(Outcome(kind, status, title, message)))


@blueprint.get("/portal/<caspio_key:customer_key>", merge_slashes=False)
def open_portal(customer_key: str) -> Response:
    """The key is the whole rest of the path (it may hold `/`); a link always carries a
    token, so a tokenless `…/returned` is the page Stripe's portal sends the user back to."""
    if "token" not in request.args and customer_key.endswith(_RETURNED):
        return returned(customer_key[: -len(_RETURNED)])
    links = link_services()
    if not links.limiter.hit("address", client_address(), limit("address")):
        return finish_response(too_many(False))
    problem = links.portal.check(customer_key, request.args.get("token"))
    if problem == "expired":
        return _refusal(
            "expired",
            410,
            "This card-update link has expired",
            "Card-update links work for a limited time; the payments page has a fresh one "
            "after the next failed payment.",
        )
    if problem is not None:
        return _refusal(
            "invalid", 404, "This link is not valid", "The card-update link is not valid."
        )
    try:
        row = links.context().writer.find_one("Billing_Customers", "CustomerKey", customer_key)
    except Exception:
        log.exception("portal: reading the customer row failed")
        return _refusal("unavailable", 503, "Please try again in a minute", "Try again soon.")
    customer_id = (row or {}).get("StripeCustomerID")
    if not customer_id:
        return _refusal(
            "no_customer",
            404,
            "No card on file yet",
            "There is no payment account for this customer yet.",
        )
    return_url = allowed_return(request.args.get("return"), allowed_origins()) or (
        f"{links.portal.public_url.rstrip('/')}/portal/{quote(customer_key, safe='')}/returned"
    )
    try:
        session = links.flow.gateway.client.v1.billing_portal.sessions.create(
            {"customer": customer_id, "return_url": return_url}
        )
    except stripe.StripeError as error:
        log.warning("portal: Stripe refused a portal session (%s)", type(error).__name__)
        return _refusal("unavailable", 503, "Please try again in a minute", "Try again soon.")
    response = Response(status=303, headers={"Location": session.url})
    return finish_response(response)


@blueprint.get("/portal/<caspio_key:customer_key>/returned", merge_slashes=False)
def returned(customer_key: str) -> Response:
    """Where Stripe's portal sends the user back when no `return` address was allowed.

    With a token this is a card-update link for a key ending in `/returned`."""
    if "token" in request.args:
        return open_portal(customer_key + _RETURNED)
    return _refusal(
        "returned",
        200,
        "Card details saved",
        "You can close this page and go back to the app; retrying the payment there charges "
        "the new card.",
    )
