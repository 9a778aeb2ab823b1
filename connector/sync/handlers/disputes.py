"""charge.dispute.* -> Billing_Disputes (by DisputeID) and the payment row's `disputed` status.

A dispute that ends `won` (or an inquiry closed, a dispute prevented) gives the payment back
the status it had before the dispute (PRODUCT.md: Status only moves forward); `lost` stays
`disputed`.

Stale payloads: not re-fetched; the per-dispute event-time guard applies, with a status rank
for two events within the same second (open < under review < closed).
"""

from __future__ import annotations

from typing import Any

from connector.billing.money import from_minor
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext
from connector.sync.handlers.charges import end_dispute, mark_payment
from connector.sync.handlers.common import DONE, currency_of, event_object, int_or_zero
from connector.sync.keys import invoice_for_payment, stripe_id
from connector.sync.object_state import ObjectState, is_newer

DISPUTES = "Billing_Disputes"
EVENT_TYPES = frozenset(
    {
        "charge.dispute.created",
        "charge.dispute.updated",
        "charge.dispute.closed",
        "charge.dispute.funds_withdrawn",
        "charge.dispute.funds_reinstated",
    }
)
_CLOSED = frozenset({"won", "lost", "warning_closed", "prevented"})
# Closed without the money leaving for good: won, an inquiry closed without a chargeback,
# a dispute prevented (its refund, if any, arrives as charge.refunded). Only `lost` stays.
RETURNED = frozenset({"won", "warning_closed", "prevented"})
_REVIEW = frozenset({"under_review", "warning_under_review"})


def status_rank(status: str) -> int:
    return 2 if status in _CLOSED else 1 if status in _REVIEW else 0


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    dispute = event_object(event)
    dispute_id: str = dispute["id"]
    created = int(event["created"])
    status = str(dispute.get("status") or "")
    state = ctx.objects.get(dispute_id)
    if not is_newer(
        state, created, status_rank(status), int_or_zero(state.state.get("rank")) if state else 0
    ):
        return DONE
    charge_id = stripe_id(dispute.get("charge"))
    intent_id = stripe_id(dispute.get("payment_intent"))
    invoice_id = invoice_for_payment(ctx, charge_id, intent_id)
    currency = currency_of(dispute)
    values = {
        "ChargeID": charge_id,
        "InvoiceID": invoice_id,
        "Amount": from_minor(int_or_zero(dispute.get("amount")), currency),
        "Currency": currency,
        "Reason": dispute.get("reason"),
        "Status": status,
        "EvidenceDueBy": from_unix((dispute.get("evidence_details") or {}).get("due_by")),
    }
    ctx.writer.upsert(
        DISPUTES, "DisputeID", dispute_id, {k: v for k, v in values.items() if v is not None}
    )
    if invoice_id and status in RETURNED:
        end_dispute(ctx, invoice_id, created)
    elif invoice_id:
        mark_payment(ctx, invoice_id, "disputed", created, extra={"ChargeID": charge_id})
    ctx.objects.put(dispute_id, ObjectState("dispute", created, {"rank": status_rank(status)}))
    return DONE
