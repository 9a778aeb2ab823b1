"""Payouts: made through an emulator control, read through ``/v1/payouts``.

``POST /_emulator/payouts {amount, currency, status: paid|failed, failure_code?}`` (or
:func:`create_payout`) sends ``payout.created`` and then ``payout.paid`` or ``payout.failed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

from .. import control_calls, flow_shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_int
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
