"""``/v1/customers``: create, update, delete, list by email, search by metadata."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..cards import TEST_TOKENS
from ..errors import invalid, no_such
from ..forms import as_dict, as_int, as_list, merge_metadata
from .common import list_of, parse_search, search_matches, search_result
from .payment_methods import attach, attached_to, materialize, new_card_payment_method

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_WRITABLE = {
    "balance",
    "email",
    "name",
    "phone",
    "description",
    "metadata",
    "address",
    "shipping",
    "invoice_settings",
    "preferred_locales",
    "tax_exempt",
}
_ADDRESS_KEYS = ("city", "country", "line1", "line2", "postal_code", "state")


def _address(value: Any, param: str) -> Obj | None:
    if value == "":
        return None
    data = as_dict(value, param)
    return {k: data.get(k) or None for k in _ADDRESS_KEYS}


def _apply(em: StripeEmulator, customer: Obj, params: Obj) -> None:
    for name in ("email", "name", "phone", "description"):
        if name in params:
            customer[name] = params[name] or None
    if "metadata" in params:
        customer["metadata"] = merge_metadata(customer["metadata"], params["metadata"])
    if "address" in params:
        customer["address"] = _address(params["address"], "address")
    if "shipping" in params:
        shipping = as_dict(params["shipping"], "shipping")
        customer["shipping"] = (
            {
                "address": _address(shipping.get("address", {}), "shipping[address]"),
                "name": shipping.get("name"),
                "phone": shipping.get("phone"),
            }
            if shipping
            else None
        )
    if "preferred_locales" in params:
        customer["preferred_locales"] = as_list(params["preferred_locales"], "preferred_locales")
    if "tax_exempt" in params:
        customer["tax_exempt"] = params["tax_exempt"]
    if "balance" in params:
        # Negative is a credit the next invoices use up (billing.apply_customer_balance).
        customer["balance"] = as_int(params["balance"], "balance")
    settings = as_dict(params.get("invoice_settings"), "invoice_settings")
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        param = "invoice_settings[default_payment_method]"
        customer["invoice_settings"]["default_payment_method"] = (
            attached_to(em, pm_id, customer["id"], param)["id"] if pm_id else None
        )
    if "footer" in settings:
        customer["invoice_settings"]["footer"] = settings["footer"] or None


def _source(em: StripeEmulator, token: Any) -> Obj:
    """``source=tok_visa``: the token's card, kept as a card PaymentMethod."""
    card = TEST_TOKENS.get(token) if isinstance(token, str) else None
    if card is None:
        raise no_such("source", str(token), "source")
    return new_card_payment_method(em, card)


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _WRITABLE | {"payment_method", "test_clock", "source"})
    if params.get("email"):
        check_email(params["email"])
    customer = shapes.new(
        "customer",
        id=em.ids.new("cus"),
        created=em.clock.now(),
        invoice_prefix=em.ids.secret("x", 8)[2:].upper(),
    )
    pm = (
        materialize(em, params["payment_method"], "payment_method")
        if params.get("payment_method")
        else None
    )
    source = _source(em, params["source"]) if params.get("source") else None
    if params.get("test_clock"):
        clock = em.store.require("test_helpers.test_clock", params["test_clock"], "test_clock")
        customer["test_clock"] = clock["id"]
        customer["created"] = clock["frozen_time"]
    em.store.put(customer)
    created_at = em.bus.mark()
    if pm is not None:
        attach(em, pm, customer["id"])
    if source is not None:
        attach(em, source, customer["id"])
        customer["default_source"] = source["id"]
    settings = as_dict(params.get("invoice_settings"), "invoice_settings")
    if pm is not None and settings.get("default_payment_method") == params["payment_method"]:
        # ``payment_method=pm_card_visa`` with the same test id as the default: Stripe
        # resolves both to the one card it just attached.
        params = {**params, "invoice_settings": {**settings, "default_payment_method": pm["id"]}}
    _apply(em, customer, params)
    em.bus.emit("customer.created", customer, position=created_at)
    return customer


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    obj = em.store.get(id)
    if obj is not None and obj.get("deleted") and obj["object"] == "customer":
        return obj
    return em.store.require("customer", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, _WRITABLE | {"source", "default_source"})
    customer = em.store.require("customer", id)
    if params.get("email"):
        check_email(params["email"])
    if params.get("source"):
        source = _source(em, params["source"])
        attach(em, source, customer["id"])
        params = {**params, "default_source": source["id"]}
    if params.get("default_source"):
        params = {**params}
        attached_to(em, params["default_source"], customer["id"], "default_source")
    with em.bus.updating(customer, "customer.updated"):
        _apply(em, customer, params)
        if params.get("default_source"):
            customer["default_source"] = params["default_source"]
    return customer


_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def check_email(value: Any) -> None:
    """Stripe refuses an address that is not ``local@domain.tld`` (``email_invalid``)."""
    if not isinstance(value, str) or len(value) > 512 or not _EMAIL.match(value):
        raise invalid(f"Invalid email address: {value}", param="email", code="email_invalid")


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    customer = em.store.require("customer", id)
    for sub in em.store.all("subscription"):
        if sub["customer"] == id and sub["status"] not in ("canceled", "incomplete_expired"):
            em.billing.cancel(sub, "cancellation_requested")
    for pm in em.store.all("payment_method"):
        if pm["customer"] == id:
            pm["customer"] = None
    em.store.replace("customer", shapes.deleted("customer", id))
    em.bus.emit("customer.deleted", customer)
    return shapes.deleted("customer", id)


def list_customers(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params, {"email", "limit", "starting_after", "ending_before", "created", "test_clock"}
    )
    email = params.get("email")
    if email is not None and len(email) > 512:
        raise invalid("email is too long", param="email")
    return list_of(
        em.store.all("customer"),
        params,
        "/v1/customers",
        lambda c: email is None or c["email"] == email,
    )


def search(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"query", "limit", "page"})
    clauses = parse_search(params.get("query"), {"email", "name", "phone"})
    found = [
        c
        for c in reversed(em.store.all("customer"))
        if not c.get("deleted") and search_matches(c, clauses)
    ]
    return search_result(found, params, "/v1/customers/search")


def register(api: Api) -> None:
    api.route("POST", "/v1/customers", create)
    api.route("GET", "/v1/customers", list_customers)
    api.route("GET", "/v1/customers/search", search)
    api.route("GET", "/v1/customers/<id>", retrieve)
    api.route("POST", "/v1/customers/<id>", update)
    api.route("DELETE", "/v1/customers/<id>", delete)
