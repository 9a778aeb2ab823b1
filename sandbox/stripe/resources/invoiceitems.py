"""``/v1/invoiceitems``: one-off charges waiting for the customer's next invoice.

A pending item (``invoice: null``) goes on the next invoice that takes pending items: a
one-off ``POST /v1/invoices`` with ``pending_invoice_items_behavior=include``, or the
customer's next subscription invoice (as on Stripe). Items on a finalized invoice can no
longer change or be deleted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import more_shapes, shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_dict, as_int, merge_metadata
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_CREATE = {
    "customer",
    "amount",
    "currency",
    "description",
    "metadata",
    "price",
    "pricing",
    "quantity",
    "unit_amount_decimal",
    "invoice",
    "period",
    "discountable",
    "subscription",
    "tax_behavior",
}


def _price(em: StripeEmulator, params: Obj) -> Obj | None:
    pricing = as_dict(params.get("pricing"), "pricing")
    price_id = pricing.get("price") or params.get("price")
    if not price_id:
        return None
    return em.store.require("price", price_id, "pricing[price]")


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    price = _price(em, params)
    quantity = as_int(params.get("quantity", 1), "quantity", minimum=0)
    if price is not None:
        unit = int(price["unit_amount"] or 0)
        amount = unit * quantity
        currency = price["currency"]
    else:
        if "amount" not in params and "unit_amount_decimal" not in params:
            raise missing_param("amount")
        if not params.get("currency"):
            raise missing_param("currency")
        if "amount" in params:
            amount = as_int(params["amount"], "amount")
            unit = amount // quantity if quantity else 0
        else:
            unit = as_int(params["unit_amount_decimal"], "unit_amount_decimal")
            amount = unit * quantity
        currency = str(params["currency"]).lower()
    now = em.clock.now()
    period = as_dict(params.get("period"), "period")
    invoice = None
    if params.get("invoice"):
        invoice = em.store.require("invoice", params["invoice"], "invoice")
        if invoice["status"] != "draft":
            raise invalid("You can only add invoice items to draft invoices.", param="invoice")
    item = more_shapes.new(
        "invoiceitem",
        id=em.ids.new("ii"),
        amount=amount,
        currency=currency,
        customer=customer["id"],
        date=now,
        description=params.get("description") or None,
        metadata=merge_metadata({}, params.get("metadata", {})),
        net_amount=amount,
        period={
            "end": as_int(period.get("end", now), "period[end]"),
            "start": as_int(period.get("start", now), "period[start]"),
        },
        pricing={
            "price_details": {"price": price["id"], "product": price["product"]} if price else None,
            "type": "price_details",
            "unit_amount_decimal": str(unit),
        },
        quantity=quantity,
        quantity_decimal=str(quantity),
        test_clock=customer["test_clock"],
    )
    if params.get("subscription"):
        sub = em.store.require("subscription", params["subscription"], "subscription")
        item["parent"] = {
            "subscription_details": {"subscription": sub["id"], "subscription_item": None},
            "type": "subscription_details",
        }
    em.store.put(item)
    em.bus.emit("invoiceitem.created", item)
    if invoice is not None:
        add_to_invoice(em, invoice, [item])
    return item


def line_of(em: StripeEmulator, item: Obj, invoice_id: str) -> Obj:
    """The invoice line an invoice item becomes."""
    parent = item["parent"] or {}
    sub_id = (parent.get("subscription_details") or {}).get("subscription")
    price_details = (item["pricing"] or {}).get("price_details")
    return shapes.new(
        "line_item",
        id=em.ids.new("il"),
        amount=item["amount"],
        currency=item["currency"],
        description=item["description"],
        invoice=invoice_id,
        metadata=dict(item["metadata"]),
        period=dict(item["period"]),
        quantity=item["quantity"],
        subscription=sub_id,
        parent={
            "invoice_item_details": {
                "invoice_item": item["id"],
                "proration": False,
                "proration_details": {"credited_items": None},
                "subscription": sub_id,
            },
            "subscription_item_details": None,
            "type": "invoice_item_details",
        },
        pricing={
            "price_details": price_details,
            "type": "price_details",
            "unit_amount_decimal": (item["pricing"] or {}).get("unit_amount_decimal"),
        },
        subtotal=item["amount"],
    )


def pending_for(em: StripeEmulator, customer: str, subscription: str | None = None) -> list[Obj]:
    """Pending items of a customer; for a subscription invoice, those not tied to another."""
    found = []
    for item in em.store.all("invoiceitem"):
        if item.get("deleted") or item["customer"] != customer or item["invoice"] is not None:
            continue
        parent = item["parent"] or {}
        owner = (parent.get("subscription_details") or {}).get("subscription")
        if owner is not None and owner != subscription:
            continue
        found.append(item)
    return found


def add_to_invoice(em: StripeEmulator, invoice: Obj, items: list[Obj]) -> None:
    """Put items on a draft invoice and recompute its totals."""
    for item in items:
        item["invoice"] = invoice["id"]
        invoice["lines"]["data"].append(line_of(em, item, invoice["id"]))
    total = sum(line["amount"] for line in invoice["lines"]["data"])
    for name in (
        "amount_due",
        "amount_remaining",
        "subtotal",
        "subtotal_excluding_tax",
        "total",
        "total_excluding_tax",
    ):
        invoice[name] = total


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("invoiceitem", id)


def _editable(em: StripeEmulator, item: Obj) -> None:
    if item["invoice"]:
        invoice = em.store.get(item["invoice"]) or {}
        if invoice.get("status") not in (None, "draft"):
            raise invalid(
                "Updating an invoice item is only possible on draft invoices.",
                code="invoice_not_editable",
            )


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"amount", "description", "metadata", "quantity", "discountable"})
    item = em.store.require("invoiceitem", id)
    _editable(em, item)
    if "metadata" in params:
        item["metadata"] = merge_metadata(item["metadata"], params["metadata"])
    if "description" in params:
        item["description"] = params["description"] or None
    if "quantity" in params:
        item["quantity"] = as_int(params["quantity"], "quantity", minimum=0)
        item["quantity_decimal"] = str(item["quantity"])
    if "amount" in params:
        item["amount"] = item["net_amount"] = as_int(params["amount"], "amount")
    if item["invoice"]:
        _refresh_lines(em, item)
    return item


def _refresh_lines(em: StripeEmulator, item: Obj) -> None:
    invoice = em.store.get(item["invoice"] or "")
    if invoice is None:
        return
    others = [
        line
        for line in invoice["lines"]["data"]
        if ((line["parent"] or {}).get("invoice_item_details") or {}).get("invoice_item")
        != item["id"]
    ]
    invoice["lines"]["data"] = others
    if not item.get("deleted"):
        add_to_invoice(em, invoice, [item])
    else:
        add_to_invoice(em, invoice, [])


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    item = em.store.require("invoiceitem", id)
    _editable(em, item)
    stub = shapes.deleted("invoiceitem", id)
    em.store.replace("invoiceitem", stub)
    if item["invoice"]:
        _refresh_lines(em, {**item, "deleted": True})
    em.bus.emit("invoiceitem.deleted", item)
    return stub


def list_items(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {"customer", "invoice", "pending", "limit", "starting_after", "ending_before", "created"},
    )
    pending = params.get("pending")

    def keep(item: Obj) -> bool:
        if params.get("customer") and item["customer"] != params["customer"]:
            return False
        if params.get("invoice") and item["invoice"] != params["invoice"]:
            return False
        return pending not in ("true", True) or item["invoice"] is None

    return list_of(em.store.all("invoiceitem"), params, "/v1/invoiceitems", keep)


def register(api: Api) -> None:
    api.route("POST", "/v1/invoiceitems", create)
    api.route("GET", "/v1/invoiceitems", list_items)
    api.route("GET", "/v1/invoiceitems/<id>", retrieve)
    api.route("POST", "/v1/invoiceitems/<id>", update)
    api.route("DELETE", "/v1/invoiceitems/<id>", delete)
