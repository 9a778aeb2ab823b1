"""The HTTP layer every ``/v1`` route goes through.

Per request: count it, apply injected faults, check the API key, decode the form or query,
replay an idempotent response, then run the handler under the state lock, render ``expand[]``
and publish the events it raised.
"""

from __future__ import annotations

import base64
import json
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flask import Flask, Response, request

from . import shapes
from .errors import StripeApiError
from .forms import decode
from .idempotency import StoredResponse, fingerprint

if TYPE_CHECKING:
    from .emulator import StripeEmulator

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[..., Any]

_KEY = re.compile(r"^(sk|rk)_test_[A-Za-z0-9_]+$")


def template_of(rule: str) -> str:
    """``/v1/customers/<id>`` → ``/v1/customers/{id}``."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


def json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> Response:
    payload = json.dumps(body, separators=(",", ":")) if not isinstance(body, bytes) else body
    response = Response(payload, status=status, mimetype="application/json")
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_response(error: StripeApiError, headers: dict[str, str] | None = None) -> Response:
    return json_response(error.status, error.body(), headers)


def _api_key() -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return auth[len("Bearer ") :].strip()
    if auth.startswith("Basic "):
        try:
            user = base64.b64decode(auth[len("Basic ") :]).decode().split(":", 1)[0]
        except ValueError:
            return None
        return user
    return None


def _unauthorized(key: str | None) -> StripeApiError:
    if not key:
        message = (
            "You did not provide an API key. You need to provide your API key in the "
            "Authorization header, using Bearer auth "
            "(e.g. 'Authorization: Bearer YOUR_SECRET_KEY')."
        )
    else:
        message = f"Invalid API Key provided: {key[:8]}{'*' * max(len(key) - 12, 0)}{key[-4:]}"
    return StripeApiError(401, message)


class Api:
    def __init__(self, em: StripeEmulator, app: Flask) -> None:
        self.em = em
        self.app = app

    def route(self, method: str, rule: str, handler: Handler) -> None:
        template = template_of(rule)

        def view(**path: str) -> Response:
            return self._handle(method, template, handler, path)

        view.__name__ = f"{method.lower()}_{template}"
        self.app.add_url_rule(rule, endpoint=view.__name__, view_func=view, methods=[method])

    def _params(self, method: str) -> Obj:
        pairs = list(request.args.items(multi=True))
        if method == "POST":
            pairs += list(request.form.items(multi=True))
        return decode(pairs)

    def _handle(
        self, method: str, template: str, handler: Handler, path: dict[str, str]
    ) -> Response:
        em = self.em
        em.count_request(method, template)
        version = request.headers.get("Stripe-Version") or shapes.API_VERSION
        headers = {"Stripe-Version": version}
        fault = em.take_api_fault(method, template)
        if fault is not None:
            return error_response(fault, {**headers, "Stripe-Should-Retry": "true"})
        key = _api_key()
        if key is None or not _KEY.match(key):
            return error_response(_unauthorized(key), headers)
        try:
            params = self._params(method)
        except StripeApiError as exc:
            return error_response(exc, headers)
        idem_key = request.headers.get("Idempotency-Key") if method == "POST" else None
        with em.store.lock:
            request_id = em.ids.secret("req", 14)
            headers["Request-Id"] = request_id
            if idem_key:
                headers["Idempotency-Key"] = idem_key
                fp = fingerprint(method, request.path, params)
                try:
                    stored = em.idempotency.lookup(key, idem_key, fp, em.clock.now())
                except StripeApiError as exc:
                    return error_response(exc, headers)
                if stored is not None:
                    headers["Idempotent-Replayed"] = "true"
                    return json_response(stored.status, stored.body, headers)
            em.bus.request = {"id": request_id, "idempotency_key": idem_key}
            status, body = self._run(handler, params, path)
            raw = json.dumps(body, separators=(",", ":")).encode()
            if idem_key and (status < 400 or status == 402 or status >= 500):
                em.idempotency.remember(
                    key, idem_key, StoredResponse(fp, status, raw, em.clock.now())
                )
        return json_response(status, raw, headers)

    def _run(self, handler: Handler, params: Obj, path: dict[str, str]) -> tuple[int, Obj]:
        em = self.em
        try:
            result = handler(em, params, **path)
            return 200, em.render(result, params)
        except StripeApiError as exc:
            return exc.status, exc.body()
        except Exception:
            log.exception("stripe emulator handler failed")
            return 500, {"error": {"type": "api_error", "message": "An unknown error occurred."}}
        finally:
            em.bus.flush()
            em.bus.request = {"id": None, "idempotency_key": None}


def require_params(params: Obj, allowed: set[str]) -> None:
    """Stripe rejects parameters it does not know."""
    for name in params:
        if name not in allowed and name != "expand":
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
