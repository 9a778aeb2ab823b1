"""Payouts: ``POST /v1/payouts`` from the available balance, or an emulator control.

``POST /v1/payouts`` checks the available balance (succeeded charges whose funds are
available — two days after the charge, at once for ``pm_card_bypassPending`` — less refunds,
disputes and earlier payouts), answers ``pending`` with ``payout.created``, and pays out at
``arrival_date`` (``payout.paid``) when the clock gets there.
``POST /_emulator/payouts {amount, currency, status: paid|failed, failure_code?}`` (or
:func:`create_payout`) sends ``payout.created`` and then ``payout.paid`` or ``payout.failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

from .. import control_calls, flow_shapes
from ..api import require_params
from ..errors import StripeApiError, invalid, missing_param
from ..forms import as_int, merge_metadata
from ..periods import DAY
from .common import list_of, update_metadata

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

# Stripe's payout failure codes that a bridge is likely to show, with their messages.
FAILURE_MESSAGES = {
    "account_closed": "The bank account has been closed.",
    "account_frozen": "The bank account has been frozen.",
    "insufficient_funds": "Your Stripe account has insufficient funds to cover the payout.",
    "invalid_account_number": "The bank account number is invalid.",
    "no_account": "The bank account could not be located.",
    "could_not_process": "The bank could not process this payout.",
}


def create_payout(
    em: StripeEmulator,
    amount: int,
    currency: str = "usd",
    status: str = "paid",
    failure_code: str | None = None,
) -> Obj:
    if status not in ("paid", "failed"):
        raise invalid("status must be paid or failed.", param="status")
    if amount <= 0:
        raise invalid("amount must be positive.", param="amount")
    if status == "failed":
        failure_code = failure_code or "could_not_process"
        if failure_code not in FAILURE_MESSAGES:
            raise invalid(f"Unknown failure_code: {failure_code}", param="failure_code")
    elif failure_code:
        raise invalid("failure_code goes with status=failed.", param="failure_code")
    now = em.clock.now()
    payout = flow_shapes.new(
        "payout",
        id=em.ids.new("po"),
        amount=amount,
        arrival_date=now + 2 * DAY,
        automatic=True,
        created=now,
        currency=currency.lower(),
        description="STRIPE PAYOUT",
        status="pending",
    )
    em.store.put(payout)
    em.bus.emit("payout.created", payout)
    payout["status"] = status
    if status == "failed":
        payout["failure_code"] = failure_code
        payout["failure_message"] = FAILURE_MESSAGES[str(failure_code)]
    else:
        payout["reconciliation_status"] = "completed"
    em.bus.emit(f"payout.{status}", payout)
    return payout


def available_balance(em: StripeEmulator, currency: str) -> int:
    """Funds a payout can take, in the currency's smallest unit."""
    now = em.clock.now()
    total = 0
    for charge in em.store.all("charge"):
        available_on: int = em.store.notes[charge["id"]].get("available_on") or charge["created"]
        if charge["currency"] == currency and charge["captured"] and available_on <= now:
            total += charge["amount_captured"] - charge["amount_refunded"]
    for dispute in em.store.all("dispute"):
        if dispute["currency"] == currency and dispute["status"] not in (
            "won",
            "warning_needs_response",
            "warning_under_review",
            "warning_closed",
        ):
            total -= dispute["amount"]
    for payout in em.store.all("payout"):
        if payout["currency"] == currency and payout["status"] != "failed":
            total -= payout["amount"]
    return total


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "amount",
            "currency",
            "description",
            "metadata",
            "method",
            "statement_descriptor",
            "destination",
            "source_type",
        },
    )
    if "amount" not in params:
        raise missing_param("amount")
    if not params.get("currency"):
        raise missing_param("currency")
    amount = as_int(params["amount"], "amount", minimum=1)
    currency = str(params["currency"]).lower()
    if amount > available_balance(em, currency):
        raise StripeApiError(
            400,
            "You have insufficient funds in your Stripe account for this transfer. Your card "
            "balance is too low. You can use the /v1/balance endpoint to view your Stripe "
            "balance (for more details, see stripe.com/docs/api#balance).",
            code="balance_insufficient",
            param="amount",
        )
    now = em.clock.now()
    payout = flow_shapes.new(
        "payout",
        id=em.ids.new("po"),
        amount=amount,
        arrival_date=now + 2 * DAY,
        created=now,
        currency=currency,
        description=params.get("description") or None,
        metadata=merge_metadata({}, params.get("metadata", {})),
        method=str(params.get("method", "standard")),
        statement_descriptor=params.get("statement_descriptor") or None,
        status="pending",
    )
    em.store.put(payout)
    arrival_timer(em).watch(payout)
    em.bus.emit("payout.created", payout)
    return payout


class PayoutArrival:
    """A billing-engine timer: a pending API payout is paid at its ``arrival_date``."""

    def __init__(self, em: StripeEmulator) -> None:
        self.em = em
        self._watched: dict[str, None] = {}

    def watch(self, payout: Obj) -> None:
        self._watched[payout["id"]] = None

    def _pending(self) -> list[Obj]:
        live = []
        for payout_id in list(self._watched):
            payout = self.em.store.get(payout_id)
            if payout is None or payout["status"] != "pending":
                del self._watched[payout_id]
            else:
                live.append(payout)
        return live

    def next_due(self) -> int | None:
        times = [int(p["arrival_date"]) for p in self._pending()]
        return min(times) if times else None

    def run_due(self, now: int) -> None:
        for payout in self._pending():
            if payout["arrival_date"] <= now:
                payout["status"] = "paid"
                payout["reconciliation_status"] = "completed"
                self.em.bus.emit("payout.paid", payout)


def arrival_timer(em: StripeEmulator) -> PayoutArrival:
    for timer in em.billing.timers:
        if isinstance(timer, PayoutArrival):
            return timer
    timer = PayoutArrival(em)
    em.billing.timers.append(timer)
    return timer


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("payout", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return update_metadata(em, "payout", id, params)


def list_payouts(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "status",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "arrival_date",
            "destination",
        },
    )
    status = params.get("status")
    return list_of(
        em.store.all("payout"), params, "/v1/payouts", lambda p: not status or p["status"] == status
    )


def register(api: Api) -> None:
    em = api.em
    arrival_timer(em)
    api.route("POST", "/v1/payouts", create)
    api.route("GET", "/v1/payouts", list_payouts)
    api.route("GET", "/v1/payouts/<id>", retrieve)
    api.route("POST", "/v1/payouts/<id>", update)

    @api.app.post("/_emulator/payouts")
    def payout_control() -> Response:
        body = control_calls.body()

        def action() -> Obj:
            if "amount" not in body:
                raise missing_param("amount")
            return create_payout(
                em,
                as_int(body["amount"], "amount"),
                str(body.get("currency", "usd")),
                str(body.get("status", "paid")),
                body.get("failure_code") or None,
            )

        return control_calls.answer(em, action)
