"""One-off invoices: ``POST /v1/invoices`` (a draft), ``finalize``, ``send``,
``mark_uncollectible``, ``DELETE`` of a draft, and ``POST /v1/invoices/create_preview``.

Paying (``/pay``) and voiding (``/void``) go through the billing engine like subscription
invoices. A draft with ``auto_advance=true`` is not finalized by the clock (Stripe does so
about an hour after creation); finalizing one with ``auto_advance`` schedules its first
automatic payment attempt an hour later, as Stripe does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_bool, as_int, merge_metadata
from ..periods import DAY
from .invoiceitems import add_to_invoice, pending_for
from .payment_methods import attached_to

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_CREATE = {
    "customer",
    "description",
    "metadata",
    "collection_method",
    "days_until_due",
    "due_date",
    "auto_advance",
    "default_payment_method",
    "pending_invoice_items_behavior",
    "currency",
    "footer",
    "statement_descriptor",
    "automatic_tax",
}
FIRST_ATTEMPT_DELAY = 3600  # Stripe attempts an auto-advancing invoice ~1 h after finalizing


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    method = str(params.get("collection_method", "charge_automatically"))
    if method not in ("charge_automatically", "send_invoice"):
        raise invalid(f"Invalid collection_method: {method}", param="collection_method")
    days = None
    if method == "send_invoice":
        if "days_until_due" not in params and "due_date" not in params:
            raise invalid(
                "Invoices with `collection_method=send_invoice` need `days_until_due` or "
                "`due_date`.",
                param="days_until_due",
            )
        if "days_until_due" in params:
            days = as_int(params["days_until_due"], "days_until_due", minimum=0)
    elif "days_until_due" in params or "due_date" in params:
        raise invalid(
            "`days_until_due` and `due_date` go with `collection_method=send_invoice`.",
            param="days_until_due",
        )
    behavior = str(params.get("pending_invoice_items_behavior", "exclude"))
    if behavior not in ("include", "exclude"):
        raise invalid(
            f"Invalid pending_invoice_items_behavior: {behavior}",
            param="pending_invoice_items_behavior",
        )
    pending = pending_for(em, customer["id"]) if behavior == "include" else []
    currency = str(params.get("currency") or (pending[0]["currency"] if pending else "usd")).lower()
    pending = [item for item in pending if item["currency"] == currency]
    now = em.clock.now()
    invoice_id = em.ids.new("in")
    invoice = shapes.new(
        "invoice",
        id=invoice_id,
        auto_advance=as_bool(params.get("auto_advance", False), "auto_advance"),
        billing_reason="manual",
        collection_method=method,
        created=now,
        currency=currency,
        customer=customer["id"],
        customer_address=customer["address"],
        customer_email=customer["email"],
        customer_name=customer["name"],
        customer_phone=customer["phone"],
        customer_shipping=customer["shipping"],
        description=params.get("description") or None,
        due_date=as_int(params["due_date"], "due_date") if params.get("due_date") else None,
        footer=params.get("footer") or None,
        lines=shapes.list_object([], f"/v1/invoices/{invoice_id}/lines"),
        metadata=merge_metadata({}, params.get("metadata", {})),
        period_end=now,
        period_start=now,
        statement_descriptor=params.get("statement_descriptor") or None,
        test_clock=customer["test_clock"],
    )
    if params.get("default_payment_method"):
        invoice["default_payment_method"] = attached_to(
            em, params["default_payment_method"], customer["id"], "default_payment_method"
        )["id"]
    em.store.put(invoice)
    em.store.notes[invoice_id]["days_until_due"] = days
    add_to_invoice(em, invoice, pending)
    em.bus.emit("invoice.created", invoice)
    return invoice


def finalize_invoice(em: StripeEmulator, invoice: Obj) -> None:
    """Draft → open (or paid at once for a zero total), with a due date or an attempt time."""
    if invoice["status"] != "draft":
        raise invalid(
            "This invoice is already finalized, you can't re-finalize a non-draft invoice.",
            code="invoice_not_editable",
        )
    days = em.store.notes[invoice["id"]].get("days_until_due")
    em.billing.finalize(invoice)
    now = em.clock.now()
    if invoice["collection_method"] == "send_invoice" and invoice["due_date"] is None:
        invoice["due_date"] = now + int(days or 0) * DAY
    if invoice["amount_due"] == 0:
        em.billing.attempt(invoice, automatic=False)
    elif invoice["collection_method"] == "charge_automatically" and invoice["auto_advance"]:
        invoice["next_payment_attempt"] = now + FIRST_ATTEMPT_DELAY


def _draft_or_open(em: StripeEmulator, id: str) -> Obj:
    return em.store.require("invoice", id)


def finalize(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"auto_advance"})
    invoice = _draft_or_open(em, id)
    if "auto_advance" in params:
        invoice["auto_advance"] = as_bool(params["auto_advance"], "auto_advance")
    finalize_invoice(em, invoice)
    return invoice


def send(em: StripeEmulator, params: Obj, id: str) -> Obj:
    """Email the invoice (the emulator sends none; it publishes ``invoice.sent``)."""
    invoice = _draft_or_open(em, id)
    if invoice["collection_method"] != "send_invoice":
        raise invalid(
            "You can only manually send an invoice if its collection method is 'send_invoice'."
        )
    if invoice["status"] == "draft":
        finalize_invoice(em, invoice)
    if invoice["status"] != "open":
        raise invalid(f"You cannot send an invoice with status {invoice['status']}.")
    customer = em.store.get(invoice["customer"]) or {}
    if not customer.get("email"):
        raise invalid(
            "The invoice's customer has no email address to send it to.",
            code="customer_email_missing",
        )
    em.bus.emit("invoice.sent", invoice)
    return invoice


def mark_uncollectible(em: StripeEmulator, params: Obj, id: str) -> Obj:
    invoice = _draft_or_open(em, id)
    if invoice["status"] != "open":
        raise invalid(
            f"You can only mark open invoices as uncollectible, not {invoice['status']} ones.",
            code="invoice_not_editable",
        )
    invoice["status"] = "uncollectible"
    invoice["next_payment_attempt"] = None
    invoice["status_transitions"]["marked_uncollectible_at"] = em.clock.now()
    em.bus.emit("invoice.marked_uncollectible", invoice)
    return invoice


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    invoice = _draft_or_open(em, id)
    if invoice["status"] != "draft":
        raise invalid(
            "You can only delete draft invoices. Void the invoice instead.",
            code="invoice_not_editable",
        )
    for item in em.store.all("invoiceitem"):
        if not item.get("deleted") and item["invoice"] == id:
            item["invoice"] = None  # back to pending, for the customer's next invoice
    em.store.replace("invoice", shapes.deleted("invoice", id))
    em.bus.emit("invoice.deleted", invoice)
    return shapes.deleted("invoice", id)


def create_preview(em: StripeEmulator, params: Obj) -> Obj:
    """The invoice a subscription's next renewal (or a customer's pending items) would make;
    nothing is stored and no event is sent."""
    require_params(params, {"customer", "subscription", "automatic_tax", "currency"})
    sub = None
    if params.get("subscription"):
        sub = em.store.require("subscription", params["subscription"], "subscription")
    customer_id = params.get("customer") or (sub["customer"] if sub else None)
    if not customer_id:
        raise missing_param("customer")
    customer = em.store.require("customer", customer_id, "customer")
    now = em.clock.now()
    lines: list[Obj] = []
    currency = str(params.get("currency") or "usd").lower()
    period = (now, now)
    if sub is not None:
        currency = sub["currency"]
        start, end = em.billing.current_period(sub)
        period = (start, end)
        for item in sub["items"]["data"]:
            price = item["price"]
            amount = int(price["unit_amount"] or 0) * int(item["quantity"])
            lines.append(
                shapes.new(
                    "line_item",
                    amount=amount,
                    currency=price["currency"],
                    quantity=item["quantity"],
                    subscription=sub["id"],
                    subtotal=amount,
                )
            )
    for item in pending_for(em, customer["id"], sub["id"] if sub else None):
        lines.append(
            shapes.new(
                "line_item",
                amount=item["amount"],
                currency=item["currency"],
                description=item["description"],
                quantity=item["quantity"],
                subtotal=item["amount"],
            )
        )
    total = sum(line["amount"] for line in lines)
    return shapes.new(
        "invoice",
        amount_due=total,
        amount_remaining=total,
        billing_reason="upcoming" if sub else "manual",
        created=now,
        currency=currency,
        customer=customer["id"],
        lines=shapes.list_object(lines, "/v1/invoices/create_preview/lines"),
        period_start=period[0],
        period_end=period[1],
        subtotal=total,
        subtotal_excluding_tax=total,
        total=total,
        total_excluding_tax=total,
    )


def register(api: Api) -> None:
    api.route("POST", "/v1/invoices", create)
    api.route("POST", "/v1/invoices/create_preview", create_preview)
    api.route("POST", "/v1/invoices/<id>/finalize", finalize)
    api.route("POST", "/v1/invoices/<id>/send", send)
    api.route("POST", "/v1/invoices/<id>/mark_uncollectible", mark_uncollectible)
    api.route("DELETE", "/v1/invoices/<id>", delete)
