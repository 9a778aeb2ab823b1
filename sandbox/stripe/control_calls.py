"""Running an emulator control (Python call or ``/_emulator/…`` route) like an API request:
under the state lock, with its events published at the end."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from flask import Response, request

from .api import error_response, json_response
from .errors import StripeApiError

if TYPE_CHECKING:
    from .emulator import StripeEmulator

T = TypeVar("T")


def run(em: StripeEmulator, action: Callable[[], T]) -> T:
    with em.store.lock:
        em.bus.request = {"id": None, "idempotency_key": None}
        try:
            return action()
        finally:
            em.bus.flush()


def body() -> dict[str, Any]:
    """A control's parameters: JSON or form."""
    if request.is_json:
        data = request.get_json(silent=True)
        return data if isinstance(data, dict) else {}
    return dict(request.form.items())


def answer(em: StripeEmulator, action: Callable[[], dict[str, Any]]) -> Response:
    """Run a control route; a Stripe-style error body on failure."""
    try:
        return json_response(200, run(em, action))
    except StripeApiError as exc:
        return error_response(exc)
