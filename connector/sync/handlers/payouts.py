"""payout.* -> Billing_Payouts (by PayoutID).

Stale payloads: not re-fetched; the per-payout event-time guard applies, with a status rank
for events within the same second (pending < in_transit < paid/failed/canceled).
"""

from __future__ import annotations

from typing import Any

from connector.billing.money import from_minor
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext
from connector.sync.handlers.common import DONE, currency_of, event_object, int_or_zero
from connector.sync.object_state import ObjectState, is_newer

PAYOUTS = "Billing_Payouts"
EVENT_TYPES = frozenset(
    {"payout.created", "payout.updated", "payout.paid", "payout.failed", "payout.canceled"}
)
_RANK = {"pending": 0, "in_transit": 1, "paid": 2, "failed": 2, "canceled": 2}


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    payout = event_object(event)
    payout_id: str = payout["id"]
    created = int(event["created"])
    status = str(payout.get("status") or "")
    rank = _RANK.get(status, 0)
    state = ctx.objects.get(payout_id)
    if not is_newer(state, created, rank, int_or_zero(state.state.get("rank")) if state else 0):
        return DONE
    currency = currency_of(payout)
    values = {
        "Amount": from_minor(int_or_zero(payout.get("amount")), currency),
        "Currency": currency,
        "Status": status,
        "ArrivalDate": from_unix(payout.get("arrival_date")),
        "FailureCode": payout.get("failure_code"),
        "FailureMessage": payout.get("failure_message"),
    }
    ctx.writer.upsert(PAYOUTS, "PayoutID", payout_id, values)
    ctx.objects.put(payout_id, ObjectState("payout", created, {"rank": rank}))
    return DONE
