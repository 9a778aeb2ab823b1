"""``/v1/invoices`` (read, pay, void, lines) and ``/v1/invoice_payments``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..errors import invalid
from ..forms import as_bool, as_dict, merge_metadata
from .common import list_of, parse_search, search_matches, search_result
from .payment_methods import attached_to

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("invoice", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(
        params, {"metadata", "description", "default_payment_method", "auto_advance", "footer"}
    )
    invoice = em.store.require("invoice", id)
    with em.bus.updating(invoice, "invoice.updated"):
        if "metadata" in params:
            invoice["metadata"] = merge_metadata(invoice["metadata"], params["metadata"])
        for name in ("description", "footer"):
            if name in params:
                invoice[name] = params[name] or None
        if "auto_advance" in params:
            invoice["auto_advance"] = as_bool(params["auto_advance"], "auto_advance")
        if "default_payment_method" in params:
            pm_id = params["default_payment_method"]
            invoice["default_payment_method"] = (
                attached_to(em, pm_id, invoice["customer"], "default_payment_method")["id"]
                if pm_id
                else None
            )
    return invoice


def pay(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(
        params,
        {"payment_method", "off_session", "paid_out_of_band", "forgive", "mandate", "source"},
    )
    invoice = em.store.require("invoice", id)
    if as_bool(params.get("paid_out_of_band", False), "paid_out_of_band"):
        if invoice["status"] != "open":
            raise invalid(f"You cannot pay an invoice with status {invoice['status']}.")
        em.billing.mark_paid_out_of_band(invoice)
        return invoice
    pm = None
    if params.get("payment_method"):
        pm = attached_to(em, params["payment_method"], invoice["customer"], "payment_method")
    em.billing.pay_now(invoice, pm)
    return invoice


def void(em: StripeEmulator, params: Obj, id: str) -> Obj:
    invoice = em.store.require("invoice", id)
    em.billing.void(invoice)
    return invoice


def lines(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"limit", "starting_after", "ending_before"})
    invoice = em.store.require("invoice", id)
    data = list(reversed(invoice["lines"]["data"]))
    return list_of(data, params, f"/v1/invoices/{id}/lines")


def list_invoices(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "customer",
            "subscription",
            "status",
            "collection_method",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "due_date",
        },
    )

    def keep(invoice: Obj) -> bool:
        if params.get("customer") and invoice["customer"] != params["customer"]:
            return False
        if params.get("status") and invoice["status"] != params["status"]:
            return False
        if params.get("subscription"):
            sub = em.billing.subscription_of(invoice)
            return sub is not None and sub["id"] == params["subscription"]
        return True

    return list_of(em.store.all("invoice"), params, "/v1/invoices", keep)


def search(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"query", "limit", "page"})
    clauses = parse_search(params.get("query"), {"status", "customer", "number"})
    found = [i for i in reversed(em.store.all("invoice")) if search_matches(i, clauses)]
    return search_result(found, params, "/v1/invoices/search")


def payments_of(em: StripeEmulator, invoice: Obj) -> Obj:
    """The includable ``invoice.payments`` list."""
    found = [p for p in em.store.all("invoice_payment") if p["invoice"] == invoice["id"]]
    return shapes.list_object(found, f"/v1/invoice_payments?invoice={invoice['id']}")


def confirmation_secret_of(em: StripeEmulator, invoice: Obj) -> Obj | None:
    pi = em.billing.payment_intent_of(invoice)
    if pi is None:
        return None
    return {"client_secret": pi["client_secret"], "type": "payment_intent"}


def retrieve_payment(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("invoice_payment", id)


def list_payments(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {"invoice", "payment", "status", "limit", "starting_after", "ending_before", "created"},
    )
    payment = as_dict(params.get("payment"), "payment")

    def keep(p: Obj) -> bool:
        if params.get("invoice") and p["invoice"] != params["invoice"]:
            return False
        if params.get("status") and p["status"] != params["status"]:
            return False
        if payment.get("type") and p["payment"]["type"] != payment["type"]:
            return False
        pi = payment.get("payment_intent")
        return not pi or p["payment"].get("payment_intent") == pi

    return list_of(em.store.all("invoice_payment"), params, "/v1/invoice_payments", keep)


def register(api: Api) -> None:
    em = api.em
    em.includables[("invoice", "payments")] = lambda inv: payments_of(em, inv)
    em.includables[("invoice", "confirmation_secret")] = lambda inv: confirmation_secret_of(em, inv)
    api.route("GET", "/v1/invoices", list_invoices)
    api.route("GET", "/v1/invoices/search", search)
    api.route("GET", "/v1/invoices/<id>", retrieve)
    api.route("POST", "/v1/invoices/<id>", update)
    api.route("POST", "/v1/invoices/<id>/pay", pay)
    api.route("POST", "/v1/invoices/<id>/void", void)
    api.route("GET", "/v1/invoices/<id>/lines", lines)
    api.route("GET", "/v1/invoice_payments", list_payments)
    api.route("GET", "/v1/invoice_payments/<id>", retrieve_payment)
