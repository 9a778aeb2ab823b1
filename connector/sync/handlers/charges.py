"""charge.refunded -> Billing_Payments.Status/RefundedAmount of the invoice the charge paid.

Stale payloads: not re-fetched. A charge's refunded total only grows, so the larger total
wins, and the payment status follows the precedence in connector.sync.status. Charges that
paid no invoice (one-off payments) are ignored.
"""

from __future__ import annotations

from typing import Any

from connector.billing.money import from_minor
from connector.metrics import ignore_because
from connector.sync.context import SyncContext
from connector.sync.handlers.common import DONE, IGNORED, currency_of, event_object, int_or_zero
from connector.sync.handlers.payplan import INVOICE
from connector.sync.keys import invoice_for_payment, stripe_id
from connector.sync.object_state import ObjectState
from connector.sync.status import PAYMENT_RANK, payment_status_may_change, refund_status

PAYMENTS = "Billing_Payments"
DISPUTED = "disputed"
EVENT_TYPES = frozenset({"charge.refunded"})


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    charge = event_object(event)
    charge_id: str = charge["id"]
    intent_id = stripe_id(charge.get("payment_intent"))
    invoice_id = invoice_for_payment(ctx, charge_id, intent_id)
    if invoice_id is None:
        # A bare charge or PaymentIntent: no payment row, so its refunds are not written.
        ignore_because("charge_without_invoice")
        return IGNORED
    currency = currency_of(charge)
    refunded = int_or_zero(charge.get("amount_refunded"))
    new_status = refund_status(int_or_zero(charge.get("amount")), refunded)
    if new_status is None:
        return DONE
    mark_payment(
        ctx,
        invoice_id,
        new_status,
        int(event["created"]),
        refunded_minor=refunded,
        extra={
            "ChargeID": charge_id,
            "PaymentIntentID": intent_id,
            "RefundedAmount": None,
            "Currency": currency,
        },
    )
    return DONE


def mark_payment(
    ctx: SyncContext,
    invoice_id: str,
    new_status: str,
    created: int,
    *,
    refunded_minor: int | None = None,
    extra: dict[str, Any] | None = None,
) -> None:
    """Move an invoice's payment row to `new_status` if precedence allows; facts always."""
    state = ctx.objects.get(invoice_id)
    remembered = dict(state.state) if state else {}
    current = remembered.get("status")
    values = {k: v for k, v in (extra or {}).items() if v is not None}
    currency = str((extra or {}).get("Currency") or remembered.get("currency") or "usd")
    # Event time decides between equal ranks (refunded vs disputed): a larger refund total
    # is not newer than a dispute opened after it.
    newer = state is None or created >= state.last_event_created
    if refunded_minor is not None:
        # Refund totals only grow: the larger one is the newer truth.
        best = max(refunded_minor, int_or_zero(remembered.get("refunded_minor")))
        remembered["refunded_minor"] = best
        values["RefundedAmount"] = from_minor(best, currency)
        new_status = (
            "refunded"
            if new_status == "refunded" or remembered.get("refunded_full")
            else new_status
        )
        if new_status == "refunded":
            remembered["refunded_full"] = True
    if payment_status_may_change(current, new_status, newer=newer):
        if new_status == DISPUTED and current != DISPUTED:
            # What a won dispute gives back (PRODUCT.md: Status only moves forward).
            remembered["before_dispute"] = current
        values["Status"] = new_status
        remembered["status"] = new_status
    values.pop("Currency", None) if "Currency" not in (extra or {}) else None
    ctx.writer.upsert(PAYMENTS, "InvoiceID", invoice_id, values)
    last = max(created, state.last_event_created) if state else created
    ctx.objects.put(
        invoice_id, ObjectState(INVOICE, last, remembered, state.parent_id if state else None)
    )


def end_dispute(ctx: SyncContext, invoice_id: str, created: int) -> None:
    """A dispute settled in the merchant's favour: the payment takes back the status it had
    before the dispute, or the one its refunds imply since (whichever ranks higher).

    A payment the bridge never saw disputed (the closing event came first) is left alone,
    the status stays."""
    state = ctx.objects.get(invoice_id)
    if state is None or state.state.get("status") != DISPUTED:
        return
    remembered = dict(state.state)
    restored = str(remembered.get("before_dispute") or "succeeded")
    if remembered.get("refunded_full"):
        refunded: str | None = "refunded"
    elif int_or_zero(remembered.get("refunded_minor")) > 0:
        refunded = "partially_refunded"
    else:
        refunded = None
    if refunded and PAYMENT_RANK[refunded] > PAYMENT_RANK.get(restored, 0):
        restored = refunded
    remembered["status"] = restored
    remembered.pop("before_dispute", None)
    ctx.writer.upsert(PAYMENTS, "InvoiceID", invoice_id, {"Status": restored})
    ctx.objects.put(
        invoice_id,
        ObjectState(INVOICE, max(created, state.last_event_created), remembered, state.parent_id),
    )
