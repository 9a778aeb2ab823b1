"""`GET, POST /payments/<InvoiceID>/retry?token=…`: the one-click, one-time Retry.

GET shows a confirmation page and charges nothing (link previews and prefetchers are safe).
POST (the page's Confirm button, or a JSON `fetch` from a Caspio DataPage on an origin in
BRIDGE_ALLOWED_ORIGINS) retries the payment at most once; see `connector.links.retry_flow`.
Requests are counted per client address and, for POST, per invoice, in the bridge's store
(so the limits hold across processes). `return` is honoured only on an allowed origin.
"""

from __future__ import annotations

import threading
from typing import Any

from flask import Blueprint, Flask, Response, current_app, request, url_for

from connector.links.pages import cors_headers, json_answer, page, security_headers
from connector.links.rate_limits import Limit
from connector.links.retry_flow import Outcome
from connector.links.return_urls import allowed_return, origin_of
from connector.links.wiring import LinkServices, build_link_services
from connector.web.extension import current_services, services_of

blueprint = Blueprint("retry", __name__)

LINKS_KEY = "caspio_stripe.links"
LIMITS_KEY = "CASPIO_STRIPE_LINK_LIMITS"
# Per client address (GET and POST of retry and portal links) and per invoice (POST).
DEFAULT_LIMITS = {"address": Limit(60, 600), "invoice": Limit(10, 600)}
_building = threading.Lock()


def link_services(app: Flask | None = None) -> LinkServices:
    """The app's link objects, built from its services on first use."""
    app = app or current_app
    if LINKS_KEY not in app.extensions:
        with _building:
            if LINKS_KEY not in app.extensions:
                app.extensions[LINKS_KEY] = build_link_services(services_of(app))
    links: LinkServices = app.extensions[LINKS_KEY]
    return links


def limit(scope: str) -> Limit:
    limits: dict[str, Limit] = current_app.config.get(LIMITS_KEY, DEFAULT_LIMITS)
    return limits[scope]


def allowed_origins() -> tuple[str, ...]:
    origins: tuple[str, ...] = current_services().settings.bridge_allowed_origins
    return origins


def client_address() -> str:
    """The peer address as the WSGI server reports it (behind a proxy, configure the
    server's forwarded-address handling so that this is the user's address)."""
    return request.remote_addr or "unknown"


def too_many(json_wanted: bool) -> Response:
    outcome = Outcome(
        "rate_limited",
        429,
        "Too many attempts",
        "Too many attempts in a short time. Wait a few minutes and try again. Nothing was charged.",
    )
    response = json_answer(outcome) if json_wanted else page(outcome)
    response.headers["Retry-After"] = "600"
    return response


def wants_json() -> bool:
    if request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "application/json"


def finish_response(response: Response) -> Response:
    """CORS for allowed origins and the pages' security headers, on every answer."""
    origins = allowed_origins()
    cors_headers(response, request.headers.get("Origin"), origins)
    return security_headers(response, origins)


def _answer(
    outcome: Outcome, invoice_id: str, token: str | None, return_url: str | None
) -> Response:
    if wants_json():
        return finish_response(json_answer(outcome, return_url))
    form = None
    if outcome.kind == "confirm":
        form = url_for("retry.confirm", invoice_id=invoice_id)
    return finish_response(page(outcome, form_action=form, token=token, return_url=return_url))


def _foreign_origin() -> bool:
    """A POST from a page on an origin that is neither the bridge nor an allowed app."""
    origin = request.headers.get("Origin")
    if origin is None:
        return False
    public_url = current_services().settings.bridge_public_url
    own = {origin_of(request.host_url), origin_of(public_url)}
    allowed = {origin_of(o) for o in allowed_origins()}
    found = origin_of(origin)
    return found is None or found not in (own | allowed) - {None}


@blueprint.get("/payments/<invoice_id>/retry", provide_automatic_options=False)
def preview(invoice_id: str) -> Response:
    """The confirmation page: amount, plan, last failure, a Confirm button. No charge."""
    links = link_services()
    if not links.limiter.hit("address", client_address(), limit("address")):
        return finish_response(too_many(wants_json()))
    token = request.args.get("token")
    return_url = allowed_return(request.args.get("return"), allowed_origins())
    return _answer(links.flow.preview(invoice_id, token), invoice_id, token, return_url)


@blueprint.post("/payments/<invoice_id>/retry", provide_automatic_options=False)
def confirm(invoice_id: str) -> Response:
    """Retry once: the token from the form, a JSON body or the query string."""
    links = link_services()
    json_wanted = wants_json()
    if _foreign_origin():
        refused = Outcome(
            "forbidden", 403, "Request refused", "This page cannot be used from another site."
        )
        return finish_response(json_answer(refused) if json_wanted else page(refused))
    body: dict[str, Any] = {}
    if request.is_json:
        loaded = request.get_json(silent=True)
        body = loaded if isinstance(loaded, dict) else {}
    token = _text(body.get("token")) or request.form.get("token") or request.args.get("token")
    wanted_return = (
        _text(body.get("return")) or request.form.get("return") or request.args.get("return")
    )
    return_url = allowed_return(wanted_return, allowed_origins())
    if not links.limiter.hit("address", client_address(), limit("address")):
        return finish_response(too_many(json_wanted))
    if not links.limiter.hit("invoice", invoice_id, limit("invoice")):
        return finish_response(too_many(json_wanted))
    return _answer(links.flow.confirm(invoice_id, token), invoice_id, None, return_url)


@blueprint.route("/payments/<invoice_id>/retry", methods=["OPTIONS"])
def preflight(invoice_id: str) -> Response:
    """CORS preflight for a DataPage's `fetch`; allowed origins only."""
    return finish_response(Response(status=204))


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
