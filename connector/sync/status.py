"""Status precedence rules (pure): which outcome may overwrite which.

Invoices (Billing_Payments.Status) only move forward:
open < failed < succeeded < partially_refunded < refunded | disputed.
`void` is reachable only from open or failed and is final. Within one status a newer event
(a later retry failing again, a larger partial refund) may refresh the details.
Subscriptions are not ranked here: their handler re-fetches the subscription from Stripe.
"""

from __future__ import annotations

PAYMENT_RANK = {
    "open": 0,
    "failed": 1,
    "succeeded": 2,
    "partially_refunded": 3,
    "refunded": 4,
    "disputed": 4,
}
VOID = "void"


def payment_status_may_change(current: str | None, new: str, *, newer: bool) -> bool:
    """May a payment row at `current` take `new`? `newer`: the event is not older than the
    last one applied to this invoice."""
    if current is None:
        return True
    if current == VOID:
        return False
    if new == VOID:
        return current in ("open", "failed")
    if current not in PAYMENT_RANK or new not in PAYMENT_RANK:
        raise ValueError(f"unknown payment status: {current!r} -> {new!r}")
    if PAYMENT_RANK[new] != PAYMENT_RANK[current]:
        return PAYMENT_RANK[new] > PAYMENT_RANK[current]
    # Same rank (a repeated failure, refunded vs disputed): the later event wins.
    return newer


def refund_status(amount_minor: int, refunded_minor: int) -> str | None:
    """The payment status a charge's refund total implies; None when nothing is refunded."""
    if refunded_minor <= 0:
        return None
    return "refunded" if refunded_minor >= amount_minor else "partially_refunded"


def access_active(status: str, *, past_due_access: bool) -> bool:
    """PRODUCT.md Access: yes for active/trialing, and past_due unless switched off."""
    if status in ("active", "trialing"):
        return True
    return status == "past_due" and past_due_access
