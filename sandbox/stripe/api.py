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
from datetime import date
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
        response = self._answer(method, template, handler, path)
        request_id = response.headers.get("Request-Id")
        if request_id:
            self.em.log_request(request_id, method, request.path, response.status_code)
        return response

    def _answer(
        self, method: str, template: str, handler: Handler, path: dict[str, str]
    ) -> Response:
        em = self.em
        em.count_request(method, template)
        version = request.headers.get("Stripe-Version") or em.options.account_api_version
        request_id = em.ids.secret("req", 14)
        headers = {"Stripe-Version": version, "Request-Id": request_id}
        fault = em.take_api_fault(method, template)
        if fault is not None:
            return self._error(fault, request_id, {**headers, "Stripe-Should-Retry": "true"})
        key = _api_key()
        if key is None or not _KEY.match(key):
            return self._error(_unauthorized(key), request_id, headers)
        if not valid_version(version):
            return self._error(
                StripeApiError(400, f"Invalid Stripe API version: {version}"), request_id, headers
            )
        try:
            params = self._params(method)
        except StripeApiError as exc:
            return self._error(exc, request_id, headers)
        idem_key = request.headers.get("Idempotency-Key") if method == "POST" else None
        with em.store.lock:
            em.request_version = version
            if idem_key:
                headers["Idempotency-Key"] = idem_key
                fp = fingerprint(method, request.path, params)
                try:
                    stored = em.idempotency.lookup(key, idem_key, fp, em.clock.now())
                except StripeApiError as exc:
                    return self._error(exc, request_id, headers)
                if stored is not None:
                    headers["Idempotent-Replayed"] = "true"
                    return json_response(stored.status, stored.body, headers)
            em.bus.request = {"id": request_id, "idempotency_key": idem_key}
            status, body = self._run(handler, params, path)
            if status >= 400:
                body["error"]["request_log_url"] = self.em.request_log_url(request_id)
            raw = json.dumps(body, separators=(",", ":")).encode()
            if idem_key and (status < 400 or status == 402 or status >= 500):
                em.idempotency.remember(
                    key, idem_key, StoredResponse(fp, status, raw, em.clock.now())
                )
        return json_response(status, raw, headers)

    def _error(self, error: StripeApiError, request_id: str, headers: dict[str, str]) -> Response:
        body = error.body()
        body["error"]["request_log_url"] = self.em.request_log_url(request_id)
        return json_response(error.status, body, headers)

    def _run(self, handler: Handler, params: Obj, path: dict[str, str]) -> tuple[int, Obj]:
        em = self.em
        try:
            # A request about a test clock's customer runs at that clock's time.
            with em.clock.frozen(em.frozen_time_for(params, path)):
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


_VERSION = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:\.([a-z]+))?$")


def valid_version(version: str) -> bool:
    """A well-formed Stripe API version no newer than the emulator's own.

    Stripe knows its exact list of published versions; the emulator accepts any real date
    from 2011-01-01 up to its own version (with a lowercase release name, as every version
    since 2024-09-30.acacia has).
    """
    match = _VERSION.match(version)
    if match is None:
        return False
    year, month, day, name = match.groups()
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    day_part = version[:10]
    if not "2011-01-01" <= day_part <= shapes.API_VERSION[:10]:
        return False
    return name is not None or day_part < "2024-09-30"


def require_params(params: Obj, allowed: set[str]) -> None:
    """Stripe rejects parameters it does not know."""
    for name in params:
        if name not in allowed and name != "expand":
            raise StripeApiError(
                400, f"Received unknown parameter: {name}", code="parameter_unknown", param=name
            )
