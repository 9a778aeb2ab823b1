"""The small HTML pages and response headers of the Retry and portal links.

Pages are rendered with Jinja's autoescaping (nothing the request carries is pasted in raw)
and sent with headers that keep the token in the address out of caches, referrers and
foreign frames.
"""

from __future__ import annotations

from flask import Response, jsonify, render_template_string

from connector.links.retry_flow import Outcome
from connector.links.return_urls import origin_of

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{ title }}</title>
<style>
body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}
h1{font-size:1.4rem} dl{display:grid;grid-template-columns:auto 1fr;gap:.25rem 1rem}
dt{color:#666} button{font:inherit;padding:.5rem 1.5rem;border:0;border-radius:4px;
background:#0a6cff;color:#fff;cursor:pointer} .kind-declined h1,.kind-invalid h1{color:#b00}
</style></head>
<body class="kind-{{ kind }}">
<h1>{{ title }}</h1>
<p id="message">{{ message }}</p>
{% if invoice %}<dl>
<dt>Amount</dt><dd id="amount">{{ invoice.amount }}</dd>
{% if invoice.plan %}<dt>For</dt><dd>{{ invoice.plan }}</dd>{% endif %}
{% if invoice.reason %}<dt>Last failure</dt><dd id="reason">{{ invoice.reason }}</dd>{% endif %}
</dl>{% endif %}
{% if form_action %}
<form method="post" action="{{ form_action }}">
<input type="hidden" name="token" value="{{ token }}">
{% if return_url %}<input type="hidden" name="return" value="{{ return_url }}">{% endif %}
<button type="submit" id="confirm">Confirm</button>
</form>{% endif %}
{% if return_url %}<p><a id="return" href="{{ return_url }}">Back</a></p>{% endif %}
</body></html>
"""


def security_headers(response: Response, frame_origins: tuple[str, ...]) -> Response:
    """No caching, no referrer to other sites (the token is in the address), frames only
    from the app. `same-origin`, not `no-referrer`: with the latter browsers send
    `Origin: null` on the Confirm form's POST, which the origin check must refuse."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Content-Type-Options"] = "nosniff"
    ancestors = " ".join(["'self'", *frame_origins])
    response.headers["Content-Security-Policy"] = (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        f"frame-ancestors {ancestors}; base-uri 'none'"
    )
    return response


def cors_headers(response: Response, origin: str | None, allowed: tuple[str, ...]) -> Response:
    """Allow a browser `fetch` only from BRIDGE_ALLOWED_ORIGINS (never `*`, no cookies)."""
    response.headers.add("Vary", "Origin")
    allowed_set = {o for o in (origin_of(a) for a in allowed) if o}
    if origin and origin_of(origin) in allowed_set:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Allow-Methods"] = "GET, POST"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type"
        response.headers["Access-Control-Max-Age"] = "600"
    return response


def page(
    outcome: Outcome,
    *,
    form_action: str | None = None,
    token: str | None = None,
    return_url: str | None = None,
) -> Response:
    html = render_template_string(
        PAGE,
        title=outcome.title,
        message=outcome.message,
        kind=outcome.kind,
        invoice=outcome.invoice,
        form_action=form_action,
        token=token,
        return_url=return_url,
    )
    return Response(html, status=outcome.http_status, mimetype="text/html")


def json_answer(outcome: Outcome, return_url: str | None = None) -> Response:
    body: dict[str, object] = {
        "outcome": outcome.kind,
        "title": outcome.title,
        "message": outcome.message,
        "retry_status": outcome.retry_status,
        "charged": outcome.charged,
    }
    if outcome.invoice is not None:
        body["amount"] = outcome.invoice.amount
        body["reason"] = outcome.invoice.reason
    if return_url:
        body["return"] = return_url
    response = jsonify(body)
    response.status_code = outcome.http_status
    return response
