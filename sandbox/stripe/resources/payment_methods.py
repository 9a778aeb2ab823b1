"""``/v1/payment_methods``: cards from test numbers, test ids and tokens; attach/detach."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..cards import INCORRECT, TEST_PAYMENT_METHODS, TEST_TOKENS, Card, card_for_number
from ..errors import StripeApiError, card_declined, invalid, missing_param, no_such
from ..forms import as_dict, as_int, merge_metadata
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def _billing_details(current: Obj, update: Any) -> Obj:
    data = as_dict(update, "billing_details")
    details = {**current, "address": dict(current["address"])}
    for name in ("email", "name", "phone"):
        if name in data:
            details[name] = data[name] or None
    for name, value in as_dict(data.get("address"), "billing_details[address]").items():
        if name in details["address"]:
            details["address"][name] = value or None
    return details


def new_card_payment_method(
    em: StripeEmulator, card: Card, exp_month: int = 12, exp_year: int | None = None
) -> Obj:
    year = exp_year or 2034
    pm = shapes.new("payment_method", id=em.ids.new("pm"), created=em.clock.now())
    pm["card"].update(
        brand=card.brand,
        display_brand=card.brand,
        exp_month=exp_month,
        exp_year=year,
        fingerprint=card.fingerprint,
        funding=card.funding,
        last4=card.last4,
        networks={"available": [card.brand], "preferred": None},
    )
    pm["card"]["checks"] = {**pm["card"]["checks"], "cvc_check": "unchecked"}
    em.store.put(pm)
    em.store.notes[pm["id"]]["card"] = card
    return pm


def materialize(em: StripeEmulator, pm_id: Any, param: str) -> Obj:
    """A stored payment method, creating a fresh one for a ``pm_card_*`` test id."""
    if isinstance(pm_id, str) and pm_id in TEST_PAYMENT_METHODS:
        return new_card_payment_method(em, TEST_PAYMENT_METHODS[pm_id])
    return em.store.require("payment_method", pm_id, param)


def attach(em: StripeEmulator, pm: Obj, customer_id: str) -> Obj:
    if pm["customer"] == customer_id:
        return pm
    if pm["customer"] is not None:
        raise invalid(
            "The payment method you provided has already been attached to a customer.",
            code="payment_method_unexpected_state",
        )
    decline = em.store.notes[pm["id"]]["card"].attach_decline
    if decline is not None:
        raise card_declined(decline.message, decline.code, decline.decline_code)
    pm["customer"] = customer_id
    em.bus.emit("payment_method.attached", pm)
    return pm


def attached_to(em: StripeEmulator, pm_id: Any, customer_id: str, param: str) -> Obj:
    """A payment method that must already belong to the customer (for defaults)."""
    pm = em.store.get(pm_id) if isinstance(pm_id, str) else None
    if pm is None or pm.get("object") != "payment_method" or pm["customer"] != customer_id:
        raise StripeApiError(
            400,
            f"The customer does not have a payment method with the ID {pm_id}. The payment "
            "method must be attached to the customer.",
            code="resource_missing",
            param=param,
        )
    return pm


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"type", "card", "billing_details", "metadata", "allow_redisplay"})
    if params.get("type") != "card":
        raise invalid("The emulator supports type=card only.", param="type")
    data = as_dict(params.get("card"), "card")
    if "token" in data:
        card = TEST_TOKENS.get(data["token"])
        if card is None:
            raise no_such("token", str(data["token"]), "card[token]")
        exp_month, exp_year = 12, None
    else:
        if "number" not in data:
            raise missing_param("card[number]")
        card = card_for_number(str(data["number"]))
        if card.attach_decline is INCORRECT:
            raise card_declined(INCORRECT.message, INCORRECT.code, None, {"param": "card[number]"})
        exp_month = as_int(data.get("exp_month", 12), "card[exp_month]")
        exp_year = as_int(data.get("exp_year", 2034), "card[exp_year]")
        if not 1 <= exp_month <= 12:
            raise card_declined(
                "Your card's expiration month is invalid.",
                "invalid_expiry_month",
                None,
                {"param": "card[exp_month]"},
            )
    pm = new_card_payment_method(em, card, exp_month, exp_year)
    if "billing_details" in params:
        pm["billing_details"] = _billing_details(pm["billing_details"], params["billing_details"])
    if "metadata" in params:
        pm["metadata"] = merge_metadata({}, params["metadata"])
    if "allow_redisplay" in params:
        pm["allow_redisplay"] = params["allow_redisplay"]
    return pm


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return materialize(em, id, "payment_method")


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"billing_details", "metadata", "card", "allow_redisplay"})
    pm = em.store.require("payment_method", id)
    with em.bus.updating(pm, "payment_method.updated"):
        if "billing_details" in params:
            pm["billing_details"] = _billing_details(
                pm["billing_details"], params["billing_details"]
            )
        if "metadata" in params:
            pm["metadata"] = merge_metadata(pm["metadata"], params["metadata"])
        card = as_dict(params.get("card"), "card")
        for name in ("exp_month", "exp_year"):
            if name in card:
                pm["card"][name] = as_int(card[name], f"card[{name}]")
        if "allow_redisplay" in params:
            pm["allow_redisplay"] = params["allow_redisplay"]
    return pm


def attach_route(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"customer"})
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    pm = materialize(em, id, "payment_method")
    return attach(em, pm, customer["id"])


def detach(em: StripeEmulator, params: Obj, id: str) -> Obj:
    pm = em.store.require("payment_method", id)
    customer_id = pm["customer"]
    if customer_id is None:
        raise invalid(
            "The payment method you provided is not attached to a customer so detachment is "
            "impossible.",
            code="payment_method_unexpected_state",
        )
    pm["customer"] = None
    customer = em.store.get(customer_id)
    if customer is not None and id in (
        customer["invoice_settings"]["default_payment_method"],
        customer["default_source"],
    ):
        with em.bus.updating(customer, "customer.updated"):
            if customer["invoice_settings"]["default_payment_method"] == id:
                customer["invoice_settings"]["default_payment_method"] = None
            if customer["default_source"] == id:
                customer["default_source"] = None
    em.bus.emit("payment_method.detached", pm, {"customer": customer_id})
    return pm


def list_payment_methods(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"customer", "type", "limit", "starting_after", "ending_before"})
    customer = params.get("customer")
    kind = params.get("type")
    return list_of(
        em.store.all("payment_method"),
        params,
        "/v1/payment_methods",
        lambda pm: (
            (customer is None or pm["customer"] == customer)
            and (kind is None or pm["type"] == kind)
        ),
    )


def list_for_customer(em: StripeEmulator, params: Obj, id: str) -> Obj:
    em.store.require("customer", id)
    require_params(params, {"type", "limit", "starting_after", "ending_before", "allow_redisplay"})
    kind = params.get("type")
    return list_of(
        em.store.all("payment_method"),
        params,
        f"/v1/customers/{id}/payment_methods",
        lambda pm: pm["customer"] == id and (kind is None or pm["type"] == kind),
    )


def register(api: Api) -> None:
    api.route("POST", "/v1/payment_methods", create)
    api.route("GET", "/v1/payment_methods", list_payment_methods)
    api.route("GET", "/v1/payment_methods/<id>", retrieve)
    api.route("POST", "/v1/payment_methods/<id>", update)
    api.route("POST", "/v1/payment_methods/<id>/attach", attach_route)
    api.route("POST", "/v1/payment_methods/<id>/detach", detach)
    api.route("GET", "/v1/customers/<id>/payment_methods", list_for_customer)
