"""`GET /signup/<SubscriptionKey>`: the Submission Form's destination -> Stripe Checkout.

The payer's browser arrives with the new row's key (Caspio may or may not URL-encode what it
substitutes: both are accepted). The answer is a 303 to the Checkout page, the same page
while its session is open, a new one once it has expired. Anything else gets a short HTML
page: an unknown, malformed or finished key all get the same 404 page, so the answer never
helps anyone guess keys, and no page ever shows a stack trace or an upstream error. A
registration Stripe refuses for good (an invalid email, say) gets a 422 page saying so in
plain words; only failures a retry can fix (Stripe 5xx or 429, no answer) get the 502
"try again in a minute" page.
"""

from __future__ import annotations

import html
import logging

import stripe
from flask import Blueprint, Response, current_app

from caspio_client.errors import CaspioError
from connector.billing.provisioning import NotFound, Provisioner, Refused, Unavailable
from connector.web.extension import current_services

PROVISIONER_KEY = "caspio_stripe_provisioner"

log = logging.getLogger(__name__)
blueprint = Blueprint("signup", __name__)

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>{title}</title></head>
<body><h1>{title}</h1><p>{text}</p></body></html>
"""


def provisioner() -> Provisioner:
    """The app's one Provisioner, built on first use from its services."""
    found = current_app.extensions.get(PROVISIONER_KEY)
    if found is None:
        found = Provisioner.from_services(current_services())
        current_app.extensions[PROVISIONER_KEY] = found
    assert isinstance(found, Provisioner)
    return found


def page(status: int, title: str, text: str) -> Response:
    body = _PAGE.format(title=html.escape(title), text=html.escape(text))
    response = Response(body, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/signup/<path:raw_key>")
def signup(raw_key: str) -> Response:
    try:
        url = provisioner().checkout_url(raw_key)
    except NotFound:
        return page(
            404,
            "This sign-up link cannot be used",
            "The link is not valid or this sign-up is already complete. "
            "Please start again from the sign-up form.",
        )
    except Refused as error:
        # Stripe refused the registration itself: retrying cannot help, so say so and why.
        return page(
            422,
            "This registration cannot be completed",
            f"{error} Please contact us, or sign up again with corrected details.",
        )
    except Unavailable as error:
        log.warning("sign-up cannot start: %s", error)
        return page(
            409,
            "Sign-up cannot start right now",
            "Please try again later, or contact us if this keeps happening.",
        )
    except (stripe.StripeError, CaspioError):
        log.exception("sign-up failed talking to Stripe or Caspio")
        return page(
            502,
            "Sign-up is unavailable for a moment",
            "Please try again in a minute.",
        )
    response = Response(status=303, headers={"Location": url, "Cache-Control": "no-store"})
    return response
