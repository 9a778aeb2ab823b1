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
from ..forms import as_bool, as_int, merge_metadata
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


def _confirm(em: StripeEmulator, pi: Obj, pm_id: Any) -> Obj:
    if pi["status"] not in ("requires_payment_method", "requires_confirmation"):
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
        _, decline = charging.confirm(em, pi, pm)
    if decline is not None:
        raise card_error(em, decline, pi)
    return pi


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
        },
    )
    if "amount" not in params:
        raise missing_param("amount")
    if not params.get("currency"):
        raise missing_param("currency")
    amount = as_int(params["amount"], "amount", minimum=1)
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
    )
    if as_bool(params.get("confirm", False), "confirm"):
        _confirm(em, pi, None)
    return pi


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("payment_intent", id)


def confirm(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"payment_method", "off_session", "return_url", "setup_future_usage"})
    pi = em.store.require("payment_intent", id)
    return _confirm(em, pi, params.get("payment_method"))


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
    api.route("GET", "/v1/charges", list_charges)
    api.route("GET", "/v1/charges/<id>", retrieve_charge)
