"""``/v1/setup_intents``: create, confirm, cancel, read; and the SetupIntent behind a
``mode=setup`` Checkout Session.

Confirming with a card attaches it to the intent's customer (``payment_method.attached``)
and succeeds (``setup_intent.succeeded``); a card that needs 3-D Secure waits in
``requires_action`` until ``POST /_emulator/setup_intents/<id>/authenticate
{"result": "succeed"|"fail"}``; a card refused at attach fails the setup (402,
``setup_intent.setup_failed``). Checkout creates its intent with the session and, when the
page saves a card, marks it ``succeeded`` the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flow_shapes
from ..api import require_params
from ..cards import AUTHENTICATION_FAILED
from ..charging import card_of, payment_error
from ..errors import StripeApiError, card_declined, invalid
from ..forms import as_bool, as_list, merge_metadata
from .common import list_of
from .payment_methods import attach, materialize

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def new_setup_intent(em: StripeEmulator, customer: str | None, metadata: dict[str, str]) -> Obj:
    seti_id = em.ids.new("seti")
    seti = flow_shapes.new(
        "setup_intent",
        id=seti_id,
        client_secret=em.ids.secret(f"{seti_id}_secret", 32),
        created=em.clock.now(),
        customer=customer,
        metadata=dict(metadata),
    )
    em.store.put(seti)
    em.bus.emit("setup_intent.created", seti)
    return seti


def succeed(em: StripeEmulator, seti: Obj, customer: str, payment_method: str) -> None:
    seti["customer"] = customer
    seti["payment_method"] = payment_method
    seti["status"] = "succeeded"
    em.bus.emit("setup_intent.succeeded", seti)


_CREATE = {
    "customer",
    "payment_method",
    "confirm",
    "description",
    "metadata",
    "payment_method_types",
    "usage",
    "return_url",
    "automatic_payment_methods",
    "payment_method_options",
    "use_stripe_sdk",
}


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    customer = None
    if params.get("customer"):
        customer = em.store.require("customer", params["customer"], "customer")["id"]
    types = [
        str(t)
        for t in as_list(params.get("payment_method_types", ["card"]), "payment_method_types")
    ]
    for kind in types:
        if kind != "card":
            raise invalid(
                f"The emulator supports card setups only; {kind} is not a card.",
                param="payment_method_types",
            )
    usage = str(params.get("usage", "off_session"))
    if usage not in ("off_session", "on_session"):
        raise invalid(f"Invalid usage: {usage}", param="usage")
    pm = (
        materialize(em, params["payment_method"], "payment_method")
        if params.get("payment_method")
        else None
    )
    seti = new_setup_intent(em, customer, merge_metadata({}, params.get("metadata", {})))
    seti["description"] = params.get("description") or None
    seti["payment_method_types"] = types or ["card"]
    seti["usage"] = usage
    if "payment_method_types" not in params:
        seti["automatic_payment_methods"] = {"allow_redirects": "always", "enabled": True}
    if pm is not None:
        seti["payment_method"] = pm["id"]
        seti["status"] = "requires_confirmation"
    if as_bool(params.get("confirm", False), "confirm"):
        _confirm(em, seti, None)
    return seti


def _confirm(em: StripeEmulator, seti: Obj, pm_id: Any) -> Obj:
    if seti["status"] not in (
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ):
        raise invalid(
            f"This SetupIntent's status is {seti['status']}, so it cannot be confirmed.",
            code="setup_intent_unexpected_state",
        )
    pm_id = pm_id or seti["payment_method"]
    if not pm_id:
        raise invalid(
            "You cannot confirm this SetupIntent because it's missing a payment method.",
            code="setup_intent_unexpected_state",
        )
    pm = materialize(em, pm_id, "payment_method")
    seti["payment_method"] = pm["id"]
    card = card_of(em, pm)
    if card.requires_authentication:
        seti["status"] = "requires_action"
        seti["next_action"] = {
            "type": "use_stripe_sdk",
            "use_stripe_sdk": {"type": "three_d_secure_redirect"},
        }
        em.bus.emit("setup_intent.requires_action", seti)
        return seti
    _finish(em, seti, pm)
    return seti


def _finish(em: StripeEmulator, seti: Obj, pm: Obj) -> None:
    seti["next_action"] = None
    try:
        if seti["customer"]:
            attach(em, pm, seti["customer"])
    except StripeApiError as exc:
        seti["status"] = "requires_payment_method"
        seti["last_setup_error"] = {
            "code": exc.code,
            "decline_code": exc.decline_code,
            "doc_url": f"https://stripe.com/docs/error-codes/{(exc.code or '').replace('_', '-')}",
            "message": exc.message,
            "payment_method": em.render(pm, {}),
            "type": "card_error",
        }
        em.bus.emit("setup_intent.setup_failed", seti)
        raise card_declined(
            exc.message,
            exc.code or "card_declined",
            exc.decline_code,
            {"setup_intent": em.render(seti, {})},
        ) from None
    seti["status"] = "succeeded"
    seti["last_setup_error"] = None
    em.bus.emit("setup_intent.succeeded", seti)


def confirm(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"payment_method", "return_url", "use_stripe_sdk", "mandate_data"})
    seti = em.store.require("setup_intent", id)
    return _confirm(em, seti, params.get("payment_method"))


def cancel(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"cancellation_reason"})
    seti = em.store.require("setup_intent", id)
    if seti["status"] not in (
        "requires_payment_method",
        "requires_confirmation",
        "requires_action",
    ):
        raise invalid(
            f"You cannot cancel this SetupIntent because it has a status of {seti['status']}.",
            code="setup_intent_unexpected_state",
        )
    reason = params.get("cancellation_reason")
    if reason is not None and reason not in ("abandoned", "duplicate", "requested_by_customer"):
        raise invalid(f"Invalid cancellation_reason: {reason}", param="cancellation_reason")
    seti["status"] = "canceled"
    seti["cancellation_reason"] = reason
    seti["next_action"] = None
    em.bus.emit("setup_intent.canceled", seti)
    return seti


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"metadata", "description", "payment_method", "customer"})
    seti = em.store.require("setup_intent", id)
    if "metadata" in params:
        seti["metadata"] = merge_metadata(seti["metadata"], params["metadata"])
    if "description" in params:
        seti["description"] = params["description"] or None
    if params.get("payment_method"):
        seti["payment_method"] = materialize(em, params["payment_method"], "payment_method")["id"]
    if params.get("customer"):
        seti["customer"] = em.store.require("customer", params["customer"], "customer")["id"]
    return seti


def authenticate(em: StripeEmulator, seti: Obj, succeed: bool) -> Obj:
    """The customer's 3-D Secure step for a ``requires_action`` SetupIntent."""
    if seti["status"] != "requires_action":
        raise invalid(
            f"This SetupIntent's status is {seti['status']}; only one in requires_action can "
            "be authenticated.",
            code="setup_intent_unexpected_state",
        )
    pm = em.store.require("payment_method", seti["payment_method"])
    if succeed:
        _finish(em, seti, pm)
        return seti
    seti["status"] = "requires_payment_method"
    seti["next_action"] = None
    error = payment_error(em, AUTHENTICATION_FAILED, None, pm)
    error.pop("charge", None)
    error["code"] = "setup_intent_authentication_failure"
    error["type"] = "invalid_request_error"
    seti["last_setup_error"] = error
    em.bus.emit("setup_intent.setup_failed", seti)
    return seti


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("setup_intent", id)


def list_setup_intents(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {"customer", "payment_method", "limit", "starting_after", "ending_before", "created"},
    )

    def keep(seti: Obj) -> bool:
        return all(
            not params.get(name) or seti[name] == params[name]
            for name in ("customer", "payment_method")
        )

    return list_of(em.store.all("setup_intent"), params, "/v1/setup_intents", keep)


def register(api: Api) -> None:
    from flask import Response

    from .. import control_calls

    em = api.em
    api.route("POST", "/v1/setup_intents", create)
    api.route("GET", "/v1/setup_intents", list_setup_intents)
    api.route("GET", "/v1/setup_intents/<id>", retrieve)
    api.route("POST", "/v1/setup_intents/<id>", update)
    api.route("POST", "/v1/setup_intents/<id>/confirm", confirm)
    api.route("POST", "/v1/setup_intents/<id>/cancel", cancel)

    @api.app.post("/_emulator/setup_intents/<id>/authenticate")
    def authenticate_setup_control(id: str) -> Response:
        result = str(control_calls.body().get("result", "succeed"))

        def action() -> Obj:
            if result not in ("succeed", "fail"):
                raise invalid("result must be succeed or fail.", param="result")
            return authenticate(em, em.store.require("setup_intent", id), result == "succeed")

        return control_calls.answer(em, action)
