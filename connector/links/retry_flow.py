"""What a Retry link does when opened (GET) and confirmed (POST), without any HTTP.

`RetryFlow.preview` (GET) reads and charges nothing. `RetryFlow.confirm` (POST) claims the
link atomically (one winner among any number of clicks, tabs and processes), checks the
invoice is still payable, calls `invoices.pay` once with an idempotency key derived from the
invoice and the token's hash, and writes the result to Caspio at once through the sync
path's `CaspioWriter` (so its memory stays true): success → `Status=succeeded`,
`RetryStatus=succeeded` and the subscription row re-read from Stripe (`active`); a decline →
`RetryStatus=failed` with the decline. The webhooks that follow write the same values.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import stripe

from connector.billing.money import from_minor
from connector.links.decline_reasons import UPDATE_CARD, plain_reason
from connector.links.retry_links import (
    AVAILABLE,
    CLOSED,
    FAILED,
    REPLACED,
    STALE_CLAIM_SECONDS,
    SUCCEEDED,
    USED,
    RetryLink,
    RetryLinkStore,
)
from connector.stripe_gateway import StripeGateway
from connector.sync.caspio_values import from_unix
from connector.sync.context import SyncContext

log = logging.getLogger(__name__)

PAYMENTS = "Billing_Payments"
GONE_SUBSCRIPTION = ("canceled", "incomplete_expired")


@dataclass(frozen=True)
class InvoiceView:
    """What the confirmation page shows."""

    invoice_id: str
    amount: str  # e.g. "20.00 USD"
    plan: str | None
    reason: str | None


@dataclass(frozen=True)
class Outcome:
    """One answer for the page or the JSON caller. `kind` is stable for programs:
    confirm, succeeded, declined, already_paid, not_payable, used, replaced, expired,
    invalid, foreign, unavailable."""

    kind: str
    http_status: int
    title: str
    message: str
    retry_status: str | None = None
    invoice: InvoiceView | None = None

    @property
    def charged(self) -> bool:
        return self.kind == "succeeded"


def _invalid() -> Outcome:
    return Outcome(
        "invalid",
        404,
        "This link is not valid",
        "The Retry link is incomplete or was not issued by this service. Nothing was charged.",
    )


class RetryFlow:
    def __init__(
        self,
        links: RetryLinkStore,
        gateway: StripeGateway,
        sync_context: Callable[[], SyncContext],
    ) -> None:
        self.links = links
        self.gateway = gateway
        self._sync_context = sync_context

    # -- the link itself -------------------------------------------------------------------

    def _link(self, invoice_id: str, token: str | None) -> RetryLink | Outcome:
        """The usable link, or the answer explaining why it cannot be used."""
        link = self.links.find(token)
        if link is None:
            return _invalid()
        if link.invoice_id != invoice_id:
            return Outcome(
                "foreign",
                403,
                "This link is for another payment",
                "The Retry link does not belong to this invoice. Nothing was charged.",
            )
        return self._state_answer(link) or link

    def _state_answer(self, link: RetryLink) -> Outcome | None:
        """None while the link is available and unexpired; else the page for its state."""
        if link.state == SUCCEEDED:
            return Outcome(
                "already_paid",
                200,
                "This payment has been made",
                "The invoice is paid. Nothing more was charged.",
                SUCCEEDED,
            )
        if link.state == FAILED:
            reason = link.reason or "The payment was declined."
            return Outcome(
                "used",
                409,
                "This Retry link has been used",
                f"The retry was declined: {reason} {UPDATE_CARD} Nothing more was charged.",
                FAILED,
            )
        if link.state == USED and not self._stale_claim(link):
            return Outcome(
                "used",
                409,
                "This Retry link has been used",
                "The payment is being retried or was retried already (another click or tab). "
                "Nothing more was charged; the payments list shows the result.",
                USED,
            )
        if link.state == REPLACED:
            return Outcome(
                "replaced",
                410,
                "This Retry link was replaced",
                "A newer Retry link was issued for this invoice; use the one in the payments "
                "list. Nothing was charged.",
            )
        if link.state == CLOSED:
            return Outcome(
                "not_payable",
                410,
                "This invoice can no longer be paid",
                "The invoice was voided or its subscription has ended. Nothing was charged.",
            )
        if link.expired(self.links.clock()):
            return Outcome(
                "expired",
                410,
                "This Retry link has expired",
                "Retry links work for a limited time. Nothing was charged.",
            )
        return None

    def _stale_claim(self, link: RetryLink) -> bool:
        now = self.links.clock()
        return link.used_at is not None and link.used_at < now - STALE_CLAIM_SECONDS

    # -- Stripe ----------------------------------------------------------------------------

    def _payable(self, invoice: dict[str, Any]) -> Outcome | None:
        """None when the invoice may be charged now; else why not (no charge)."""
        status = invoice.get("status")
        if status == "paid":
            return Outcome(
                "already_paid",
                200,
                "This payment has been made",
                "The invoice is already paid. Nothing more was charged.",
                SUCCEEDED,
            )
        if status != "open":
            return Outcome(
                "not_payable",
                410,
                "This invoice can no longer be paid",
                f"The invoice is {status or 'not open'}. Nothing was charged.",
            )
        subscription_id = _subscription_id(invoice)
        if subscription_id is not None:
            try:
                subscription = self.gateway.client.v1.subscriptions.retrieve(subscription_id)
                gone = subscription.status in GONE_SUBSCRIPTION
            except stripe.InvalidRequestError as error:
                if error.http_status != 404:
                    raise
                gone = True
            if gone:
                return Outcome(
                    "not_payable",
                    410,
                    "This subscription has ended",
                    "The invoice belongs to a subscription that has ended. Nothing was charged.",
                )
        return None

    def _invoice(self, invoice_id: str) -> dict[str, Any]:
        invoice: dict[str, Any] = self.gateway.client.v1.invoices.retrieve(invoice_id).to_dict()
        return invoice

    # -- GET -------------------------------------------------------------------------------

    def preview(self, invoice_id: str, token: str | None) -> Outcome:
        """The confirmation page's answer: reads only, never charges or writes."""
        found = self._link(invoice_id, token)
        if isinstance(found, Outcome):
            return found
        try:
            invoice = self._invoice(invoice_id)
            refusal = self._payable(invoice)
        except stripe.StripeError as error:
            return _unavailable(error)
        if refusal is not None:
            return refusal
        return Outcome(
            "confirm",
            200,
            "Retry this payment?",
            "Pressing Confirm charges the card on file once, now.",
            AVAILABLE,
            _view(invoice, found.reason),
        )

    # -- POST ------------------------------------------------------------------------------

    def confirm(self, invoice_id: str, token: str | None) -> Outcome:
        """Claim the link, charge at most once, write the result; see the module docstring."""
        found = self._link(invoice_id, token)
        if isinstance(found, Outcome):
            return found
        link = found
        if not self.links.claim(link):
            # Another click, tab or process won the claim (or it expired just now).
            now = self.links.find(token)
            return (self._state_answer(now) if now else None) or _invalid()
        try:
            invoice = self._invoice(invoice_id)
            refusal = self._payable(invoice)
        except stripe.StripeError as error:
            self.links.release(link)
            return _unavailable(error)
        if refusal is not None:
            if refusal.kind == "already_paid":
                self.links.finish(link, SUCCEEDED)
                self._write(invoice_id, {"RetryStatus": SUCCEEDED})
            else:
                self.links.finish(link, CLOSED)
                self._write(invoice_id, {"RetryStatus": USED})
            return refusal
        view = _view(invoice, link.reason)
        key = self.gateway.idempotency_key("retry", invoice_id, link.token_hash)
        try:
            paid = self.gateway.client.v1.invoices.pay(
                invoice_id, options={"idempotency_key": key}
            ).to_dict()
        except stripe.CardError as error:
            return self._declined(link, invoice_id, error, view)
        except stripe.InvalidRequestError as error:
            if error.code == "invoice_already_paid":
                self.links.finish(link, SUCCEEDED)
                self._write(invoice_id, {"RetryStatus": SUCCEEDED})
                return self._payable({"status": "paid"}) or _invalid()
            self.links.finish(link, CLOSED)
            self._write(invoice_id, {"RetryStatus": USED})
            return Outcome(
                "not_payable",
                410,
                "This invoice can no longer be paid",
                f"Stripe refused the payment: {error.user_message or 'the invoice is not payable'}."
                " Nothing was charged.",
                USED,
                view,
            )
        except stripe.StripeError as error:
            # The outcome is unknown (network, 5xx): the same link may be pressed again and
            # repeats the same idempotency key, so Stripe will not charge twice.
            self.links.release(link)
            return _unavailable(error)
        if paid.get("status") != "paid":
            # Accepted but not paid (e.g. processing): the webhooks will tell.
            self._write(invoice_id, {"RetryStatus": USED})
            return Outcome(
                "used",
                202,
                "The payment is being processed",
                "Stripe accepted the retry; the payments list shows the result soon.",
                USED,
                view,
            )
        self.links.finish(link, SUCCEEDED)
        self._succeeded(invoice_id, paid)
        return Outcome(
            "succeeded",
            200,
            "Payment succeeded",
            f"{view.amount} was charged. Thank you.",
            SUCCEEDED,
            InvoiceView(view.invoice_id, view.amount, view.plan, None),
        )

    def _declined(
        self, link: RetryLink, invoice_id: str, error: stripe.CardError, view: InvoiceView
    ) -> Outcome:
        detail = error.error
        code = (getattr(detail, "decline_code", None) if detail else None) or error.code
        stripe_message = (getattr(detail, "message", None) if detail else None) or None
        reason = plain_reason(code, error.user_message or stripe_message)
        self.links.finish(link, FAILED, reason)
        now = int(self.links.clock())
        self._write(
            invoice_id,
            {
                "RetryStatus": FAILED,
                "FailureCode": code,
                "FailureMessage": stripe_message or reason,
                "FailedAt": from_unix(now),
            },
        )
        return Outcome(
            "declined",
            200,
            "The payment was declined",
            f"{reason} {UPDATE_CARD}",
            FAILED,
            InvoiceView(view.invoice_id, view.amount, view.plan, reason),
        )

    def _succeeded(self, invoice_id: str, invoice: dict[str, Any]) -> None:
        from connector.sync.handlers.subscriptions import apply_subscription

        paid_at = (invoice.get("status_transitions") or {}).get("paid_at")
        ctx = self._write(
            invoice_id,
            {
                "Status": SUCCEEDED,
                "RetryStatus": SUCCEEDED,
                "PaidAt": from_unix(int(paid_at or self.links.clock())),
                "NextAttemptAt": None,
            },
        )
        subscription_id = _subscription_id(invoice)
        if ctx is None or subscription_id is None:
            return
        try:
            subscription = self.gateway.client.v1.subscriptions.retrieve(subscription_id)
            apply_subscription(ctx, subscription.to_dict())
        except Exception:  # the webhook that follows writes it; the payment is not at risk
            log.exception("retry of %s: the subscription row was left to the webhook", invoice_id)

    def _write(self, invoice_id: str, values: dict[str, Any]) -> SyncContext | None:
        """Write through the sync path's writer; a Caspio failure is logged, not shown to the
        payer (the webhooks that follow write the same outcome)."""
        try:
            ctx = self._sync_context()
            ctx.writer.upsert(PAYMENTS, "InvoiceID", invoice_id, values)
            return ctx
        except Exception:
            log.exception("retry of %s: writing %s to Caspio failed", invoice_id, sorted(values))
            return None


def _subscription_id(invoice: dict[str, Any]) -> str | None:
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    value = details.get("subscription")
    if isinstance(value, dict):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _view(invoice: dict[str, Any], reason: str | None) -> InvoiceView:
    currency = str(invoice.get("currency") or "usd")
    minor = invoice.get("amount_remaining")
    if not isinstance(minor, int):
        minor = int(invoice.get("amount_due") or 0)
    lines = ((invoice.get("lines") or {}).get("data")) or []
    plan = lines[0].get("description") if lines and isinstance(lines[0], dict) else None
    return InvoiceView(
        invoice["id"], f"{from_minor(minor, currency)} {currency.upper()}", plan, reason
    )


def _unavailable(error: stripe.StripeError) -> Outcome:
    log.warning("retry: Stripe did not answer usefully (%s)", type(error).__name__)
    return Outcome(
        "unavailable",
        503,
        "Please try again in a minute",
        "The payment service did not answer. The link still works, and pressing it again "
        "will not charge twice.",
    )
