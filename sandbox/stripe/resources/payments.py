"""``/v1/payment_intents`` and ``/v1/charges``.

Confirming the payment intent of an invoice (as a payment page would) pays that invoice.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import charging
from ..api import require_params
from ..billing import card_error
from ..cards import Decline
from ..errors import invalid, missing_param
from ..forms import as_bool, as_dict, as_int, as_list, merge_metadata
from .common import list_of
from .payment_methods import materialize

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def _payment_method(em: StripeEmulator, pi: Obj, pm_id: Any) -> Obj:
    pm = materialize(em, pm_id, "payment_method")
    if pi["customer"] and pm["customer"] not in (None, pi["customer"]):
        raise invalid(
            "The provided PaymentMethod is attached to another customer.", param="payment_method"
        )
    return pm


def _confirm(em: StripeEmulator, pi: Obj, pm_id: Any, off_session: bool = False) -> Obj:
    if pi["status"] not in ("requires_payment_method", "requires_confirmation", "requires_action"):
        raise invalid(
            f"This PaymentIntent's status is {pi['status']}, so it cannot be confirmed.",
            code="payment_intent_unexpected_state",
        )
    if not (pm_id or pi["payment_method"]):
        raise invalid(
            "You cannot confirm this PaymentIntent because it's missing a payment method.",
            code="payment_intent_unexpected_state",
        )
    pm = _payment_method(em, pi, pm_id or pi["payment_method"])
    invoice_id = em.store.notes[pi["id"]].get("invoice")
    decline: Decline | None
    if invoice_id:
        invoice = em.store.require("invoice", invoice_id)
        if invoice["status"] != "open":
            raise invalid(
                f"The invoice of this PaymentIntent is {invoice['status']}.",
                code="payment_intent_unexpected_state",
            )
        decline = em.billing.attempt(invoice, automatic=False, payment_method=pm)
    else:
        _, decline = charging.confirm(em, pi, pm, off_session=off_session)
    if decline is not None and pi["status"] != "requires_action":
        raise card_error(em, decline, pi)
    return pi


CARD_ONLY = "The emulator supports card payments only; {0} is not a card."


def _method_types(params: Obj) -> list[str]:
    types = as_list(params.get("payment_method_types", ["card"]), "payment_method_types")
    for kind in types:
        if kind != "card":
            raise invalid(CARD_ONLY.format(kind), param="payment_method_types")
    return [str(t) for t in types] or ["card"]


def _choice(params: Obj, name: str, allowed: tuple[str, ...]) -> str:
    value = str(params.get(name, allowed[0]))
    if value not in allowed:
        raise invalid(f"Invalid {name}: must be one of {', '.join(allowed)}", param=name)
    return value


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "amount",
            "currency",
            "customer",
            "payment_method",
            "confirm",
            "description",
            "metadata",
            "off_session",
            "receipt_email",
            "setup_future_usage",
            "statement_descriptor",
            "statement_descriptor_suffix",
            "payment_method_types",
            "capture_method",
            "confirmation_method",
            "return_url",
            "shipping",
            "automatic_payment_methods",
            "payment_method_options",
            "error_on_requires_action",
            "use_stripe_sdk",
        },
    )
    if "amount" not in params:
        raise missing_param("amount")
    if not params.get("currency"):
        raise missing_param("currency")
    amount = as_int(params["amount"], "amount", minimum=1)
    types = _method_types(params)
    capture_method = _choice(params, "capture_method", ("automatic", "automatic_async", "manual"))
    confirmation_method = _choice(params, "confirmation_method", ("automatic", "manual"))
    customer = None
    if params.get("customer"):
        customer = em.store.require("customer", params["customer"], "customer")["id"]
    pi = charging.new_payment_intent(
        em,
        amount=amount,
        currency=str(params["currency"]).lower(),
        customer=customer,
        description=params.get("description"),
        metadata=merge_metadata({}, params.get("metadata", {})),
        payment_method=materialize(em, params["payment_method"], "payment_method")["id"]
        if params.get("payment_method")
        else None,
        capture_method=capture_method,
    )
    pi["payment_method_types"] = types
    pi["confirmation_method"] = confirmation_method
    if "payment_method_types" not in params:
        # Without a list Stripe picks methods from the Dashboard settings (cards here).
        pi["automatic_payment_methods"] = {"allow_redirects": "always", "enabled": True}
    for name in (
        "receipt_email",
        "setup_future_usage",
        "statement_descriptor",
        "statement_descriptor_suffix",
    ):
        if params.get(name):
            pi[name] = params[name]
    if "shipping" in params:
        pi["shipping"] = _shipping(params["shipping"])
    if params.get("return_url"):
        em.store.notes[pi["id"]]["return_url"] = str(params["return_url"])
    if as_bool(params.get("confirm", False), "confirm"):
        off_session = as_bool(params.get("off_session", False), "off_session")
        _confirm(em, pi, None, off_session)
    elif params.get("return_url"):
        raise invalid("return_url can only be passed when confirm=true.", param="return_url")
    return pi


def _shipping(value: Any) -> Obj:
    data = as_dict(value, "shipping")
    if not data.get("name"):
        raise missing_param("shipping[name]")
    address = as_dict(data.get("address"), "shipping[address]")
    keys = ("city", "country", "line1", "line2", "postal_code", "state")
    return {
        "address": {k: address.get(k) or None for k in keys},
        "carrier": data.get("carrier"),
        "name": data["name"],
        "phone": data.get("phone"),
        "tracking_number": data.get("tracking_number"),
    }


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("payment_intent", id)


def confirm(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"payment_method", "off_session", "return_url", "setup_future_usage"})
    pi = em.store.require("payment_intent", id)
    if params.get("return_url"):
        em.store.notes[pi["id"]]["return_url"] = str(params["return_url"])
    off_session = as_bool(params.get("off_session", False), "off_session")
    return _confirm(em, pi, params.get("payment_method"), off_session)


def capture(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"amount_to_capture", "metadata", "final_capture"})
    pi = em.store.require("payment_intent", id)
    if pi["status"] != "requires_capture":
        raise invalid(
            f"This PaymentIntent could not be captured because it has a status of "
            f"{pi['status']}. Only a PaymentIntent with one of the following statuses may be "
            "captured: requires_capture.",
            code="payment_intent_unexpected_state",
        )
    amount = None
    if "amount_to_capture" in params:
        amount = as_int(params["amount_to_capture"], "amount_to_capture", minimum=1)
        if amount > pi["amount_capturable"]:
            raise invalid(
                "The amount to capture cannot exceed the capturable amount.",
                param="amount_to_capture",
                code="amount_too_large",
            )
    if "metadata" in params:
        pi["metadata"] = merge_metadata(pi["metadata"], params["metadata"])
    charging.capture(em, pi, amount)
    return pi


def cancel(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"cancellation_reason"})
    pi = em.store.require("payment_intent", id)
    if em.store.notes[pi["id"]].get("invoice"):
        raise invalid(
            "You cannot cancel the PaymentIntent of an invoice; void the invoice.",
            code="payment_intent_unexpected_state",
        )
    if pi["status"] in ("succeeded", "canceled"):
        raise invalid(
            f"You cannot cancel this PaymentIntent because it has a status of {pi['status']}.",
            code="payment_intent_unexpected_state",
        )
    charging.cancel(em, pi, params.get("cancellation_reason") or "requested_by_customer")
    return pi


def list_intents(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"customer", "limit", "starting_after", "ending_before", "created"})
    customer = params.get("customer")
    return list_of(
        em.store.all("payment_intent"),
        params,
        "/v1/payment_intents",
        lambda pi: not customer or pi["customer"] == customer,
    )


def retrieve_charge(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("charge", id)


def list_charges(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {"customer", "payment_intent", "limit", "starting_after", "ending_before", "created"},
    )
    customer, pi = params.get("customer"), params.get("payment_intent")
    return list_of(
        em.store.all("charge"),
        params,
        "/v1/charges",
        lambda ch: (
            (not customer or ch["customer"] == customer) and (not pi or ch["payment_intent"] == pi)
        ),
    )


def register(api: Api) -> None:
    api.route("POST", "/v1/payment_intents", create)
    api.route("GET", "/v1/payment_intents", list_intents)
    api.route("GET", "/v1/payment_intents/<id>", retrieve)
    api.route("POST", "/v1/payment_intents/<id>/confirm", confirm)
    api.route("POST", "/v1/payment_intents/<id>/cancel", cancel)
    api.route("POST", "/v1/payment_intents/<id>/capture", capture)
    register_controls(api)
    api.route("GET", "/v1/charges", list_charges)
    api.route("GET", "/v1/charges/<id>", retrieve_charge)


def authenticate(em: StripeEmulator, pi: Obj, succeed: bool) -> Obj:
    """The customer's 3-D Secure step for a ``requires_action`` intent: ``succeed`` charges
    the card (and pays its invoice, if any); otherwise the intent needs a new method."""
    if pi["status"] != "requires_action":
        raise invalid(
            f"This PaymentIntent's status is {pi['status']}; only one in requires_action can "
            "be authenticated.",
            code="payment_intent_unexpected_state",
        )
    if not succeed:
        charging.fail_authentication(em, pi)
        return pi
    pm = em.store.require("payment_method", pi["payment_method"])
    invoice_id = em.store.notes[pi["id"]].get("invoice")
    if invoice_id:
        invoice = em.store.require("invoice", invoice_id)
        em.billing.attempt(invoice, automatic=False, payment_method=pm, authenticated=True)
    else:
        charging.confirm(em, pi, pm, authenticated=True)
    return pi


_AUTH_PAGE = """<!doctype html><title>3-D Secure (emulator)</title>
<p>Authenticate payment {id}?</p>
<form method="post"><button name="result" value="succeed">Complete</button>
<button name="result" value="fail">Fail</button></form>"""


def register_controls(api: Api) -> None:
    from flask import Response, redirect, request
    from werkzeug.wrappers import Response as ResponseBase

    from .. import control_calls

    em = api.em

    @api.app.route("/_emulator/payment_intents/<id>/authenticate", methods=["GET", "POST"])
    def authenticate_payment_control(id: str) -> ResponseBase:
        if request.method == "GET":
            return Response(_AUTH_PAGE.format(id=id), mimetype="text/html")
        result = str(control_calls.body().get("result", "succeed"))

        def action() -> Obj:
            if result not in ("succeed", "fail"):
                raise invalid("result must be succeed or fail.", param="result")
            pi = em.store.require("payment_intent", id)
            return authenticate(em, pi, result == "succeed")

        answer = control_calls.answer(em, action)
        return_url = em.store.notes.get(id, {}).get("return_url")
        if return_url and not request.is_json and answer.status_code == 200:
            return redirect(str(return_url), code=303)
        return answer
