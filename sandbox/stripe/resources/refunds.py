"""``/v1/refunds``: full or partial refunds of a succeeded charge.

A refund succeeds at once; the charge's ``amount_refunded``, ``refunded`` and ``refunds``
follow, and ``refund.created`` then ``charge.refunded`` are sent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flow_shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_int, merge_metadata
from .common import list_by_charge, list_of, update_metadata

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _charge_for(em: StripeEmulator, params: Obj) -> Obj:
    if params.get("charge") and params.get("payment_intent"):
        raise invalid("You may only specify one of these parameters: charge, payment_intent.")
    if params.get("charge"):
        return em.store.require("charge", params["charge"], "charge")
    if params.get("payment_intent"):
        pi = em.store.require("payment_intent", params["payment_intent"], "payment_intent")
        if pi["status"] != "succeeded" or not pi["latest_charge"]:
            raise invalid(
                f"This PaymentIntent ({pi['id']}) does not have a successful charge to refund.",
                param="payment_intent",
            )
        return em.store.require("charge", pi["latest_charge"])
    raise missing_param("charge")


def refund_charge(
    em: StripeEmulator,
    charge: Obj,
    amount: int | None = None,
    reason: str | None = None,
    metadata: dict[str, str] | None = None,
) -> Obj:
    if charge["status"] != "succeeded":
        raise invalid(
            f"Charge {charge['id']} has not succeeded and cannot be refunded.", param="charge"
        )
    left = charge["amount_captured"] - charge["amount_refunded"]
    if left <= 0:
        raise invalid(
            f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded"
        )
    amount = left if amount is None else amount
    if amount > left:
        raise invalid(
            f"Refund amount ({amount / 100:.2f}) is greater than unrefunded amount on charge "
            f"({left / 100:.2f})",
            param="amount",
        )
    refund = flow_shapes.new(
        "refund",
        id=em.ids.new("re"),
        amount=amount,
        charge=charge["id"],
        created=em.clock.now(),
        currency=charge["currency"],
        metadata=dict(metadata or {}),
        payment_intent=charge["payment_intent"],
        reason=reason,
        customer=charge["customer"],
        payment_method=charge["payment_method"],
    )
    em.store.put(refund)
    em.bus.emit("refund.created", refund)
    with em.bus.updating(charge, "charge.refunded") as live:
        live["amount_refunded"] += amount
        live["refunded"] = live["amount_refunded"] >= live["amount_captured"]
        live["refunds"]["data"].insert(0, refund)
    return refund


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "charge",
            "payment_intent",
            "amount",
            "reason",
            "metadata",
            "refund_application_fee",
            "reverse_transfer",
            "instructions_email",
        },
    )
    charge = _charge_for(em, params)
    amount = as_int(params["amount"], "amount", minimum=1) if "amount" in params else None
    reason = params.get("reason") or None
    if reason is not None and reason not in REASONS:
        raise invalid(
            "Invalid reason: must be one of duplicate, fraudulent, or requested_by_customer",
            param="reason",
        )
    return refund_charge(em, charge, amount, reason, merge_metadata({}, params.get("metadata", {})))


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("refund", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return update_metadata(em, "refund", id, params)


def list_refunds(em: StripeEmulator, params: Obj) -> Obj:
    return list_by_charge(em, "refund", params, "/v1/refunds")
    charge, pi = params.get("charge"), params.get("payment_intent")
    return list_of(
        em.store.all("refund"),
        params,
        "/v1/refunds",
        lambda r: (not charge or r["charge"] == charge) and (not pi or r["payment_intent"] == pi),
    )


def register(api: Api) -> None:
    api.route("POST", "/v1/refunds", create)
    api.route("GET", "/v1/refunds", list_refunds)
    api.route("GET", "/v1/refunds/<id>", retrieve)
    api.route("POST", "/v1/refunds/<id>", update)
