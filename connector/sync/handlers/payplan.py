"""Pay-plan progress (BalanceRemaining, InstallmentsPaid) from the bridge's own records."""

from __future__ import annotations

from decimal import Decimal

from connector.billing.money import to_minor
from connector.sync.context import SyncContext
from connector.sync.handlers.common import int_or_zero
from connector.sync.keys import plan_facts
from connector.sync.object_state import ObjectState

INVOICE = "invoice"
PAID_STATUSES = frozenset({"succeeded", "partially_refunded", "refunded", "disputed"})


def payplan_progress(
    ctx: SyncContext, subscription_id: str, plan_key: str | None, currency: str
) -> tuple[int, int] | None:
    """(remaining minor units, installments paid) for a pay-plan subscription, else None.

    Counted from the bridge's own record of this subscription's paid invoices, each for its
    `total`: an installment paid partly or wholly from the customer's credit balance is paid
    all the same."""
    facts = plan_facts(ctx, plan_key)
    if not facts or facts.get("PlanType") != "payplan" or not facts.get("Balance"):
        return None
    balance = to_minor(Decimal(str(facts["Balance"])), currency)
    paid = [
        installment_total(s)
        for _id, s in ctx.objects.children(subscription_id, INVOICE)
        if s.state.get("status") in PAID_STATUSES and installment_total(s) > 0
    ]
    return max(0, balance - sum(paid)), len(paid)


def installment_total(state: ObjectState) -> int:
    """What one paid invoice counts for its pay plan: its total, whatever paid it (card or
    customer credit; PRODUCT.md Billing_Payments). States stored before `total` was kept
    hold `amount_paid`."""
    if "total" in state.state:
        return int_or_zero(state.state.get("total"))
    return int_or_zero(state.state.get("amount_paid"))
