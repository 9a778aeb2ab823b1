"""Disputes: opened and closed through emulator controls, read through ``/v1/disputes``.

``POST /_emulator/disputes {charge, reason, amount?}`` opens one (``charge.dispute.created``,
``charge.dispute.funds_withdrawn``); ``POST /_emulator/disputes/<id>/close {status:
won|lost}`` closes it (``charge.dispute.closed``, and ``charge.dispute.funds_reinstated``
when won); ``POST /v1/disputes/<id>/close`` is Stripe's "accept", which loses it.
:func:`open_dispute` and :func:`close_dispute` are the Python-side controls.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response

from .. import control_calls, flow_shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_int, merge_metadata
from ..periods import DAY
from .common import list_by_charge, list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

REASONS = (
    "bank_cannot_process",
    "check_returned",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "noncompliant",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
OPEN_STATUSES = ("warning_needs_response", "warning_under_review", "needs_response", "under_review")
EVIDENCE_WINDOW = 7 * DAY


def open_dispute(
    em: StripeEmulator,
    charge_id: str,
    reason: str = "general",
    amount: int | None = None,
    inquiry: bool = False,
) -> Obj:
    """A dispute on a succeeded charge; an ``inquiry`` (Stripe's
    ``warning_needs_response``) takes no funds until it becomes a chargeback."""
    charge = em.store.require("charge", charge_id, "charge")
    if charge["status"] != "succeeded":
        raise invalid("Only a succeeded charge can be disputed.", param="charge")
    if charge["disputed"]:
        raise invalid(f"Charge {charge_id} is already disputed.", param="charge")
    if reason not in REASONS:
        raise invalid(f"Invalid reason: {reason}", param="reason")
    amount = charge["amount_captured"] - charge["amount_refunded"] if amount is None else amount
    if not 0 < amount <= charge["amount_captured"]:
        raise invalid(
            "The disputed amount must be positive and at most the charge amount.", param="amount"
        )
    pm = em.store.get(charge["payment_method"] or "") or {}
    brand = (pm.get("card") or {}).get("brand")
    now = em.clock.now()
    dispute = flow_shapes.new(
        "dispute",
        id=em.ids.new("dp"),
        amount=amount,
        charge=charge["id"],
        created=now,
        currency=charge["currency"],
        payment_intent=charge["payment_intent"],
        payment_method_details={
            "card": {
                "brand": brand,
                "case_type": "inquiry" if inquiry else "chargeback",
                "network_reason_code": None,
                "network": brand,
            },
            "type": "card",
        },
        reason=reason,
        status="warning_needs_response" if inquiry else "needs_response",
    )
    dispute["evidence_details"]["due_by"] = now + EVIDENCE_WINDOW
    em.store.put(dispute)
    with em.bus.updating(charge, "charge.updated"):
        charge["disputed"] = True
    em.bus.emit("charge.dispute.created", dispute)
    if not inquiry:
        # Stripe takes the disputed amount back from the balance at once.
        em.bus.emit("charge.dispute.funds_withdrawn", dispute)
    return dispute


def close_dispute(em: StripeEmulator, dispute_id: str, status: str) -> Obj:
    if status not in ("won", "lost"):
        raise invalid("status must be won or lost.", param="status")
    dispute = em.store.require("dispute", dispute_id)
    if dispute["status"] not in OPEN_STATUSES:
        raise invalid(f"This dispute is already closed ({dispute['status']}).")
    dispute["status"] = status
    em.bus.emit("charge.dispute.closed", dispute)
    if status == "won":
        em.bus.emit("charge.dispute.funds_reinstated", dispute)
    return dispute


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("dispute", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"metadata", "evidence", "submit"})
    dispute = em.store.require("dispute", id)
    with em.bus.updating(dispute, "charge.dispute.updated"):
        if "metadata" in params:
            dispute["metadata"] = merge_metadata(dispute["metadata"], params["metadata"])
        if params.get("evidence"):
            dispute["evidence_details"]["has_evidence"] = True
    return dispute


def accept(em: StripeEmulator, params: Obj, id: str) -> Obj:
    """``POST /v1/disputes/<id>/close``: the merchant gives up, the dispute is lost."""
    return close_dispute(em, id, "lost")


def list_disputes(em: StripeEmulator, params: Obj) -> Obj:
    return list_by_charge(em, "dispute", params, "/v1/disputes")
    charge, pi = params.get("charge"), params.get("payment_intent")
    return list_of(
        em.store.all("dispute"),
        params,
        "/v1/disputes",
        lambda d: (not charge or d["charge"] == charge) and (not pi or d["payment_intent"] == pi),
    )


def register(api: Api) -> None:
    em = api.em
    api.route("GET", "/v1/disputes", list_disputes)
    api.route("GET", "/v1/disputes/<id>", retrieve)
    api.route("POST", "/v1/disputes/<id>", update)
    api.route("POST", "/v1/disputes/<id>/close", accept)

    @api.app.post("/_emulator/disputes")
    def open_control() -> Response:
        body = control_calls.body()

        def action() -> Obj:
            if not body.get("charge"):
                raise missing_param("charge")
            amount = as_int(body["amount"], "amount") if body.get("amount") else None
            return open_dispute(em, str(body["charge"]), str(body.get("reason", "general")), amount)

        return control_calls.answer(em, action)

    @api.app.post("/_emulator/disputes/<dispute_id>/close")
    def close_control(dispute_id: str) -> Response:
        status = str(control_calls.body().get("status", ""))
        return control_calls.answer(em, lambda: close_dispute(em, dispute_id, status))
