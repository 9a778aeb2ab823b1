"""invoice.* -> Billing_Payments (one row per invoice, keyed by InvoiceID).

Stale payloads: invoices are NOT re-fetched. Each event's invoice snapshot is applied under
the status precedence of connector.sync.status (a late `payment_failed` never overwrites
`succeeded`) plus the per-invoice event-time guard (for repeated failures). A lower-ranked
event still fills facts that never change (keys, amounts paid, links), never the status.

Call budget: `invoice.created`/`invoice.finalized` of an automatically charged invoice write
nothing to Caspio (Stripe attempts it about an hour later and the outcome writes the row);
only invoices the payer pays by hand (`send_invoice`) get an `open` row. An invoice whose
`total` is zero moves no money and gets no payment row; `Amount` is always the invoice's
`total`, whatever paid it (card, customer credit balance, or both: PRODUCT.md
Billing_Payments), so an invoice paid wholly from credit (`amount_paid` 0) is a paid row.

Caspio bills every call: a customer key is looked up in Caspio only for invoices that name
a Caspio row in their metadata (objects made by the bridge); an invoice of a subscription
made in the Stripe dashboard takes its key from the Stripe customer or goes without.
"""

from __future__ import annotations

from typing import Any

import stripe

from connector.billing.money import from_minor
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext
from connector.sync.handlers.common import DONE, currency_of, event_object, int_or_zero
from connector.sync.handlers.payplan import INVOICE, PAID_STATUSES, payplan_progress
from connector.sync.handlers.subscriptions import mark_completed
from connector.sync.keys import (
    CUSTOMER_KEY_META,
    PLAN_KEY_META,
    SUBSCRIPTION_KEY_META,
    customer_key,
    remember_payment,
    stripe_id,
    subscription_key,
)
from connector.sync.object_state import ObjectState
from connector.sync.status import payment_status_may_change
from connector.sync.stripe_reader import is_missing

PAYMENTS = "Billing_Payments"
STATUS_BY_EVENT = {
    "invoice.created": "open",
    "invoice.finalized": "open",
    "invoice.paid": "succeeded",
    "invoice.payment_succeeded": "succeeded",
    "invoice.payment_failed": "failed",
    "invoice.voided": "void",
}
EVENT_TYPES = frozenset(STATUS_BY_EVENT)


def subscription_details(invoice: dict[str, Any]) -> tuple[str | None, dict[str, Any]]:
    """(subscription id, metadata snapshot) from `invoice.parent` (basil and later)."""
    parent = invoice.get("parent") or {}
    details = parent.get("subscription_details") or {}
    metadata = details.get("metadata") or {}
    return stripe_id(details.get("subscription")), metadata if isinstance(metadata, dict) else {}


def _payment_details(
    ctx: SyncContext, invoice_id: str, *, failed_by: int | None = None
) -> dict[str, Any]:
    """PaymentIntentID, ChargeID and the latest decline, from one invoice_payments read.

    `failed_by` (an `invoice.payment_failed` event's `created`): when no PaymentIntent still
    carries its `last_payment_error` (a later attempt paid the invoice before this event was
    processed: a backlog, a replay), the decline is taken from the failed attempt's own
    charge, the newest failed charge created by then (one charges read)."""
    if ctx.stripe is None:
        return {}
    details: dict[str, Any] = {}
    intent_ids: list[str] = []
    try:
        listed = ctx.stripe.invoice_payments(invoice_id)
    except stripe.InvalidRequestError as exc:
        if not is_missing(exc):
            raise
        listed = []  # the invoice is gone from Stripe: the event's facts are all there is
    payments = sorted(listed, key=lambda p: int_or_zero(p.get("created")))
    for payment in payments:
        intent = (payment.get("payment") or {}).get("payment_intent")
        intent_obj = intent if isinstance(intent, dict) else {}
        intent_id = stripe_id(intent)
        charge_id = stripe_id((payment.get("payment") or {}).get("charge")) or stripe_id(
            intent_obj.get("latest_charge")
        )
        if intent_id:
            details["PaymentIntentID"] = intent_id
            intent_ids.append(intent_id)
        if charge_id:
            details["ChargeID"] = charge_id
        error = intent_obj.get("last_payment_error") or {}
        if error:
            details["FailureCode"] = error.get("decline_code") or error.get("code")
            details["FailureMessage"] = error.get("message")
            charge_id = charge_id or stripe_id(error.get("charge"))
        remember_payment(ctx, invoice_id, charge_id, intent_id)
    if failed_by is not None and "FailureCode" not in details:
        details.update(_failed_charge_facts(ctx, intent_ids, failed_by))
    return details


def _failed_charge_facts(ctx: SyncContext, intent_ids: list[str], by: int) -> dict[str, Any]:
    """FailureCode/FailureMessage of the newest failed charge created at or before `by`.

    A charge keeps its `failure_code`, `failure_message` and `outcome.reason` (the decline
    code) for good, unlike the PaymentIntent's `last_payment_error`, which a later successful
    attempt clears (Stripe API reference, Charge object)."""
    assert ctx.stripe is not None
    failed: list[dict[str, Any]] = []
    for intent_id in intent_ids:
        try:
            charges = ctx.stripe.charges_for_intent(intent_id)
        except stripe.InvalidRequestError as exc:
            if not is_missing(exc):
                raise
            continue
        failed += [
            charge
            for charge in charges
            if charge.get("status") == "failed" and int_or_zero(charge.get("created")) <= by
        ]
    if not failed:
        return {}
    charge = max(failed, key=lambda c: int_or_zero(c.get("created")))
    outcome = charge.get("outcome") or {}
    reason = outcome.get("reason") if isinstance(outcome, dict) else None
    return {
        "FailureCode": reason or charge.get("failure_code"),
        "FailureMessage": charge.get("failure_message"),
    }


def handle(ctx: SyncContext, event: dict[str, Any]) -> str:
    invoice = event_object(event)
    invoice_id: str = invoice["id"]
    created = int(event["created"])
    new_status = STATUS_BY_EVENT[event["type"]]
    state = ctx.objects.get(invoice_id)
    current = state.state.get("status") if state else None
    newer = state is None or created >= state.last_event_created
    subscription_id, snapshot = subscription_details(invoice)
    currency = currency_of(invoice)
    total = invoice_total(invoice)
    remembered = dict(state.state) if state else {}

    automatic = invoice.get("collection_method", "charge_automatically") == "charge_automatically"
    # A draft has no hosted page yet: only a finalized manual invoice is worth an open row.
    drafted = event["type"] == "invoice.created"
    quiet = drafted or (new_status == "open" and automatic) or total == 0
    if quiet:
        # Nothing for Caspio yet (see module docstring); remember what we saw, for free.
        if state is None:
            ctx.objects.put(
                invoice_id,
                ObjectState(
                    INVOICE,
                    created,
                    {"status": None, "subscription_id": subscription_id},
                    subscription_id,
                ),
            )
        return DONE

    status_moves = payment_status_may_change(current, new_status, newer=newer)
    sub_key = subscription_key(ctx, subscription_id, snapshot.get(SUBSCRIPTION_KEY_META))
    # Only an invoice that names a Caspio row can be found in Caspio (fault 7 of issue 10).
    names_caspio = sub_key is not None or any(
        snapshot.get(name) for name in (SUBSCRIPTION_KEY_META, CUSTOMER_KEY_META, PLAN_KEY_META)
    )
    values: dict[str, Any] = {
        "SubscriptionKey": sub_key,
        "CustomerKey": customer_key(
            ctx,
            stripe_id(invoice.get("customer")),
            snapshot.get(CUSTOMER_KEY_META),
            ask_caspio=names_caspio,
        ),
        "StripeSubscriptionID": subscription_id,
        "Amount": from_minor(total, currency),
        "Currency": currency,
        "BillingReason": invoice.get("billing_reason"),
        "HostedInvoiceURL": invoice.get("hosted_invoice_url"),
    }
    if new_status == "succeeded":
        # Paid facts stay true whatever came later (a refund, a dispute): when, and that no
        # further attempt will be made.
        values["NextAttemptAt"] = None
        values["PaidAt"] = from_unix(
            (invoice.get("status_transitions") or {}).get("paid_at") or created
        )
        if "payment_intent" not in remembered:
            details = _payment_details(ctx, invoice_id)
            values.update({k: details[k] for k in ("PaymentIntentID", "ChargeID") if k in details})
    if new_status == "failed":
        values.update(_failure_facts(ctx, invoice_id, created, remembered))
    # Attempts only grow, so the largest count seen is the newest, whatever the order.
    attempts = max(
        int_or_zero(invoice.get("attempt_count")), int_or_zero(remembered.get("attempts"))
    )
    values["AttemptCount"] = attempts
    remembered["attempts"] = attempts
    if status_moves:
        values["Status"] = new_status
        values["NextAttemptAt"] = from_unix(invoice.get("next_payment_attempt"))
    if ctx.retry_links is not None and (status_moves or new_status == "succeeded"):
        # RetryURL/RetryStatus (connector.links): a fresh link per failed attempt; paid by
        # any route (even after a refund was applied first) ends every link of the invoice.
        values.update(ctx.retry_links.payment_fields(ctx, invoice, new_status, attempts, values))

    ctx.writer.upsert(
        PAYMENTS,
        "InvoiceID",
        invoice_id,
        {k: v for k, v in values.items() if v is not None or k == "NextAttemptAt"},
    )

    remembered.update(
        {
            "status": new_status if status_moves else current,
            "subscription_id": subscription_id,
            "currency": currency,
        }
    )
    if new_status == "succeeded":
        # What the installment counts for a pay plan: the total, credit included.
        remembered["total"] = total
        if values.get("PaymentIntentID"):
            remembered["payment_intent"] = values["PaymentIntentID"]
    last = max(created, state.last_event_created) if state else created
    ctx.objects.put(invoice_id, ObjectState(INVOICE, last, remembered, subscription_id))

    # Not gated on `status_moves`: a refund or dispute of this invoice (another Stripe object,
    # so not ordered with it by the inbox) may have been applied first, or while this event
    # waited for a retry; the installment is paid all the same.
    paid = remembered["status"] in PAID_STATUSES
    if new_status == "succeeded" and paid and subscription_id and sub_key:
        record_payplan_progress(
            ctx, subscription_id, sub_key, snapshot.get(PLAN_KEY_META), currency
        )
    return DONE


def invoice_total(invoice: dict[str, Any]) -> int:
    """The invoice's `total` in minor units (what the payer owes before credit is applied).

    `total` is on every invoice in every API version; `amount_due` (total minus credit
    applied) only stands in for a payload without it."""
    total = invoice.get("total")
    if isinstance(total, int) and not isinstance(total, bool):
        return total
    return int_or_zero(invoice.get("amount_due")) + max(
        0, -int_or_zero(invoice.get("starting_balance"))
    )


def _failure_facts(
    ctx: SyncContext, invoice_id: str, created: int, remembered: dict[str, Any]
) -> dict[str, Any]:
    """FailedAt and the decline of the newest failed attempt, even once the invoice is paid
    (they are history, not status): a late-arriving older failure changes nothing."""
    if created < int_or_zero(remembered.get("last_failure_created")):
        return {}
    remembered["last_failure_created"] = created
    values: dict[str, Any] = {"FailedAt": from_unix(created)}
    values.update(_payment_details(ctx, invoice_id, failed_by=created))
    return values


def record_payplan_progress(
    ctx: SyncContext, subscription_id: str, sub_key: str, plan_key: str | None, currency: str
) -> None:
    progress = payplan_progress(ctx, subscription_id, plan_key, currency)
    if progress is None:
        return
    remaining, installments = progress
    if remaining == 0:
        # Paid in full: `completed`, never `canceled` (PRODUCT.md Pay plans); the totals too.
        mark_completed(ctx, subscription_id, sub_key, remaining, installments, currency)
        return
    ctx.writer.update(
        "Billing_Subscriptions",
        "SubscriptionKey",
        sub_key,
        {"BalanceRemaining": from_minor(remaining, currency), "InstallmentsPaid": installments},
    )
