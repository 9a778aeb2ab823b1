"""Retry links: issue one per failed attempt, claim one atomically, settle it once.

A link is `<BRIDGE_PUBLIC_URL>/payments/<InvoiceID>/retry?token=<token>`. The store keeps
the token's hash, the invoice it is bound to, the invoice's `attempt_count` when it was
issued, its state and its expiry. Links are keyed by attempt because Stripe's
`attempt_count` grows only with automatic retries (a manual `/pay` does not bump it,
docs/stripe.md §2): the `invoice.payment_failed` that follows a declined Retry has the same
attempt and must not hand out a fresh link over the `failed` answer the user just saw; the
next automatic failure has a higher attempt and does get one.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import sqlalchemy as sa

from connector.links.tokens import new_token, token_hash, well_formed
from connector.store import Store, retry_links

if TYPE_CHECKING:
    from connector.links.portal_links import PortalLinks
    from connector.sync.context import SyncContext

AVAILABLE, USED, SUCCEEDED, FAILED = "available", "used", "succeeded", "failed"
REPLACED, CLOSED = "replaced", "closed"
# Link states that Billing_Payments.RetryStatus shows (PRODUCT.md); the others are internal.
SHOWN_STATES = (AVAILABLE, USED, SUCCEEDED, FAILED)
PAYMENTS = "Billing_Payments"
# FailureMessage once a payment can no longer be retried (after the decline, if known).
VOIDED = "The invoice was voided, so this payment can no longer be retried."
SUBSCRIPTION_ENDED = "The subscription has ended, so this payment can no longer be retried."
DAY = 86400.0
# Far beyond one request's Stripe and Caspio timeouts (3 attempts of 30 s each).
STALE_CLAIM_SECONDS = 600.0


@dataclass(frozen=True)
class RetryLink:
    token_hash: str
    invoice_id: str
    attempt: int
    state: str
    created_at: float
    expires_at: float
    used_at: float | None
    reason: str | None

    def expired(self, now: float) -> bool:
        return now >= self.expires_at


def retry_url(public_url: str, invoice_id: str, token: str) -> str:
    """`<public>/payments/<InvoiceID>/retry?token=<token>` with the id path-escaped."""
    return f"{public_url.rstrip('/')}/payments/{quote(invoice_id, safe='')}/retry?token={token}"


class RetryLinkStore:
    """The `bridge_retry_links` table. Every state change is one conditional UPDATE, so two
    processes racing on one link cannot both win."""

    def __init__(
        self, store: Store, *, days: int = 30, clock: Callable[[], float] = time.time
    ) -> None:
        self.store = store
        self.lifetime = days * DAY
        self.clock = clock

    def issue(self, invoice_id: str, attempt: int, reason: str | None = None) -> str | None:
        """A new token for the failure at `attempt`, or None when none is due.

        None when a link exists for a later attempt (a stale event) or when the link of
        this attempt was already used or settled (the failure of a manual retry). A still
        unused link of the same attempt is replaced: its URL may never have reached Caspio
        (the event is being retried), and only the hash is kept.
        """
        c = retry_links.c
        now = self.clock()
        with self.store.transaction() as conn:
            latest = conn.execute(
                sa.select(c.attempt, c.state)
                .where(c.invoice_id == invoice_id, c.state != REPLACED)
                .order_by(c.attempt.desc(), c.created_at.desc())
                .limit(1)
            ).first()
            if latest is not None:
                if latest.attempt > attempt:
                    return None
                if latest.attempt == attempt and latest.state != AVAILABLE:
                    return None
            conn.execute(
                retry_links.update()
                .where(c.invoice_id == invoice_id, c.state == AVAILABLE)
                .values(state=REPLACED)
            )
            token = new_token()
            conn.execute(
                retry_links.insert().values(
                    token_hash=token_hash(token),
                    invoice_id=invoice_id,
                    attempt=attempt,
                    state=AVAILABLE,
                    created_at=now,
                    expires_at=now + self.lifetime,
                    reason=reason,
                )
            )
        return token

    def find(self, token: str | None) -> RetryLink | None:
        """The link a token names; None for a malformed or unknown (forged) token."""
        if token is None or not well_formed(token):
            return None
        return self.find_by_hash(token_hash(token))

    def find_by_hash(self, hashed: str) -> RetryLink | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(retry_links).where(retry_links.c.token_hash == hashed)
            ).first()
        if row is None:
            return None
        return RetryLink(
            row.token_hash,
            row.invoice_id,
            int(row.attempt),
            row.state,
            float(row.created_at),
            float(row.expires_at),
            row.used_at,
            row.reason,
        )

    def claim(self, link: RetryLink) -> bool:
        """available -> used, only if still available and unexpired; True for the one winner.

        A link left `used` for STALE_CLAIM_SECONDS without an outcome (the process died
        mid-request) may be claimed again: the retry repeats the same idempotency key, and
        an invoice paid meanwhile is refused before `invoices.pay`, so it still charges once.
        """
        c = retry_links.c
        now = self.clock()
        claimable = sa.or_(
            c.state == AVAILABLE,
            sa.and_(c.state == USED, c.used_at < now - STALE_CLAIM_SECONDS),
        )
        with self.store.transaction() as conn:
            won = conn.execute(
                retry_links.update()
                .where(c.token_hash == link.token_hash, claimable, c.expires_at > now)
                .values(state=USED, used_at=now)
            ).rowcount
        return bool(won)

    def release(self, link: RetryLink) -> None:
        """used -> available: the attempt never reached a result (Stripe unreachable). The
        next POST repeats the same idempotency key, so Stripe still charges at most once."""
        c = retry_links.c
        with self.store.transaction() as conn:
            conn.execute(
                retry_links.update()
                .where(c.token_hash == link.token_hash, c.state == USED)
                .values(state=AVAILABLE, used_at=None)
            )

    def finish(self, link: RetryLink, state: str, reason: str | None = None) -> None:
        """used -> succeeded | failed | closed, the outcome of the claimed attempt."""
        c = retry_links.c
        values: dict[str, Any] = {"state": state}
        if reason is not None:
            values["reason"] = reason
        with self.store.transaction() as conn:
            conn.execute(
                retry_links.update().where(c.token_hash == link.token_hash).values(**values)
            )

    def settle_paid(self, invoice_id: str) -> bool:
        """The invoice is paid (by any route): every link of it stops working. True when the
        invoice ever had a link, i.e. its row shows a RetryStatus to update."""
        c = retry_links.c
        # Most paid invoices never failed: find that out with a read, not a write transaction
        # (links are issued only by the worker, under this customer's key lease, so none can
        # appear for this invoice meanwhile).
        with self.store.engine.connect() as conn:
            if not conn.execute(
                sa.select(sa.func.count()).where(c.invoice_id == invoice_id)
            ).scalar_one():
                return False
        with self.store.transaction() as conn:
            conn.execute(
                retry_links.update()
                .where(c.invoice_id == invoice_id, c.state.in_((AVAILABLE, USED, FAILED)))
                .values(state=SUCCEEDED)
            )
            return (
                conn.execute(
                    sa.select(sa.func.count()).where(c.invoice_id == invoice_id)
                ).scalar_one()
                > 0
            )

    def close(self, invoice_id: str) -> list[str | None]:
        """The invoice can no longer be paid (void, or its subscription ended): its unused
        links stop working. Returns the decline reasons of the links it closed, oldest
        first; empty when none was available (nothing on the row to change)."""
        c = retry_links.c
        with self.store.transaction() as conn:
            closing = conn.execute(
                sa.select(c.token_hash, c.reason)
                .where(c.invoice_id == invoice_id, c.state == AVAILABLE)
                .order_by(c.created_at)
            ).all()
            if closing:
                conn.execute(
                    retry_links.update()
                    .where(
                        c.token_hash.in_([row.token_hash for row in closing]),
                        c.state == AVAILABLE,
                    )
                    .values(state=CLOSED)
                )
        return [row.reason for row in closing]


class RetryLinks:
    """The hook the invoice handler calls with each payment outcome (`SyncContext.retry_links`).

    Returns the Billing_Payments fields to add to the handler's own write, so a failure
    with its link costs no extra Caspio call. On a failure it also refreshes the customer's
    `PortalURL` (one Caspio update) so that the card can be replaced before the retry.
    """

    def __init__(
        self,
        links: RetryLinkStore,
        public_url: str,
        portal: PortalLinks | None = None,
    ) -> None:
        self.links = links
        self.public_url = public_url
        self.portal = portal

    def payment_fields(
        self,
        ctx: SyncContext,
        invoice: dict[str, Any],
        status: str,
        attempt: int,
        row: dict[str, Any],
    ) -> dict[str, Any]:
        """Fields for the payment row of `invoice` now at `status` (failed, succeeded, void…).

        `row` is what the handler is about to write (CustomerKey, FailureMessage…).
        """
        invoice_id: str = invoice["id"]
        if status == SUCCEEDED:
            return {"RetryStatus": SUCCEEDED} if self.links.settle_paid(invoice_id) else {}
        if status == "void":
            return self._ended(invoice_id, VOIDED)
        if status != FAILED or invoice.get("status") != "open":
            return {}
        token = self.links.issue(invoice_id, attempt, row.get("FailureMessage"))
        if token is None:
            return {}
        self._refresh_portal_url(ctx, row.get("CustomerKey"))
        return {
            "RetryURL": retry_url(self.public_url, invoice_id, token),
            "RetryStatus": AVAILABLE,
        }

    def subscription_ended(self, ctx: SyncContext, subscription_id: str) -> int:
        """The subscription ended (canceled, by hand or when dunning gives up; incomplete
        and expired): its payments still showing `RetryStatus=available` get `failed`
        with the reason, through the sync writer (docs/contracts.md), and their links
        stop working. One Caspio read; returns how many rows were written."""
        from caspio_client import where as w

        writer = ctx.writer
        table = writer.mapping.table(PAYMENTS)
        rows = writer.client.select(
            table,
            w.and_(
                w.eq(writer.mapping.field(PAYMENTS, "StripeSubscriptionID"), subscription_id),
                w.eq(writer.mapping.field(PAYMENTS, "RetryStatus"), AVAILABLE),
            ),
        )
        written = 0
        for caspio_row in list(rows):
            invoice_id = writer.mapping.from_caspio(PAYMENTS, caspio_row).get("InvoiceID")
            if not isinstance(invoice_id, str) or not invoice_id:
                continue
            fields = self._ended(invoice_id, SUBSCRIPTION_ENDED)
            if fields:
                writer.update(PAYMENTS, "InvoiceID", invoice_id, fields)
                written += 1
        return written

    def _ended(self, invoice_id: str, why: str) -> dict[str, Any]:
        """Close the invoice's available links; the row's fields saying it cannot be
        retried any more (none when no link was available)."""
        reasons = self.links.close(invoice_id)
        if not reasons:
            return {}
        decline = next((r for r in reversed(reasons) if r), None)
        message = f"{decline.rstrip('. ')}. {why}" if decline else why
        return {"RetryStatus": FAILED, "FailureMessage": message}

    def _refresh_portal_url(self, ctx: SyncContext, customer_key: Any) -> None:
        from connector.sync.caspio_writer import MissingCaspioRow

        if self.portal is None or not isinstance(customer_key, str) or not customer_key:
            return
        # A one-off invoice's customer may have no Caspio row; the Retry link still works.
        with contextlib.suppress(MissingCaspioRow):
            ctx.writer.update(
                "Billing_Customers",
                "CustomerKey",
                customer_key,
                {"PortalURL": self.portal.url_for(customer_key)},
            )
