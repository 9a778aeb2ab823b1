"""Payment intents and charges: one confirmation attempt charges a card once."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from . import shapes
from .cards import AUTHENTICATION_FAILED, AUTHENTICATION_REQUIRED, EXPIRED, Card, Decline
from .periods import DAY

if TYPE_CHECKING:
    from .emulator import StripeEmulator

Obj = dict[str, Any]


def card_of(em: StripeEmulator, payment_method: Obj) -> Card:
    card = em.store.notes[payment_method["id"]].get("card")
    assert isinstance(card, Card), payment_method["id"]
    return card


def new_payment_intent(
    em: StripeEmulator,
    *,
    amount: int,
    currency: str,
    customer: str | None,
    description: str | None = None,
    metadata: dict[str, str] | None = None,
    payment_method: str | None = None,
    capture_method: str = "automatic",
) -> Obj:
    pi_id = em.ids.new("pi")
    pi = shapes.new(
        "payment_intent",
        id=pi_id,
        amount=amount,
        currency=currency,
        customer=customer,
        description=description,
        metadata=dict(metadata or {}),
        created=em.clock.now(),
        client_secret=em.ids.secret(f"{pi_id}_secret", 25),
        payment_method=payment_method,
        capture_method=capture_method,
        status="requires_payment_method" if payment_method is None else "requires_confirmation",
    )
    em.store.put(pi)
    em.bus.emit("payment_intent.created", pi)
    return pi


def _card_details(card_obj: Obj, amount: int) -> Obj:
    card = card_obj["card"]
    return {
        "card": {
            "amount_authorized": amount,
            "brand": card["brand"],
            "checks": dict(card["checks"]),
            "country": card["country"],
            "exp_month": card["exp_month"],
            "exp_year": card["exp_year"],
            "extended_authorization": {"status": "disabled"},
            "fingerprint": card["fingerprint"],
            "funding": card["funding"],
            "incremental_authorization": {"status": "unavailable"},
            "installments": None,
            "last4": card["last4"],
            "mandate": None,
            "multicapture": {"status": "unavailable"},
            "network": card["brand"],
            "network_token": {"used": False},
            "overcapture": {"maximum_amount_capturable": amount, "status": "unavailable"},
            "three_d_secure": None,
            "wallet": None,
            "authorization_code": None,
            "regulated_status": card["regulated_status"],
            "network_transaction_id": None,
            "transaction_link_id": None,
        },
        "type": "card",
    }


def _outcome(decline: Decline | None) -> Obj:
    if decline is None:
        return {
            "advice_code": None,
            "network_advice_code": None,
            "network_decline_code": None,
            "network_status": "approved_by_network",
            "reason": None,
            "seller_message": "Payment complete.",
            "type": "authorized",
        }
    return {
        "advice_code": "try_again_later" if decline.decline_code == "generic_decline" else None,
        "network_advice_code": None,
        "network_decline_code": None,
        "network_status": "declined_by_network",
        "reason": decline.decline_code,
        "seller_message": "The bank did not return any further details with this decline.",
        "type": "issuer_declined",
    }


def require_action(em: StripeEmulator, pi: Obj, payment_method: Obj) -> None:
    """3-D Secure: the intent waits in ``requires_action`` until the emulator's control says
    how the customer's authentication went (``/_emulator/payment_intents/<id>/authenticate``)."""
    pi["payment_method"] = payment_method["id"]
    pi["status"] = "requires_action"
    return_url = em.store.notes[pi["id"]].get("return_url")
    pi["next_action"] = (
        {
            "redirect_to_url": {
                "return_url": return_url,
                "url": f"{em.public_url}/_emulator/payment_intents/{pi['id']}/authenticate",
            },
            "type": "redirect_to_url",
        }
        if return_url
        else {"type": "use_stripe_sdk", "use_stripe_sdk": {"type": "three_d_secure_redirect"}}
    )
    em.bus.emit("payment_intent.requires_action", pi)


def confirm(
    em: StripeEmulator,
    pi: Obj,
    payment_method: Obj,
    *,
    off_session: bool = False,
    authenticated: bool = False,
) -> tuple[Obj | None, Decline | None]:
    """Charge ``payment_method`` for ``pi`` once; returns the charge and the decline, if any.

    A card that needs 3-D Secure leaves an on-session intent in ``requires_action`` (no
    charge, no decline: ``(None, None)``); off session it is declined with
    ``authentication_required``, as Stripe's test card 4000 0025 0000 3155 is.
    """
    card = card_of(em, payment_method)
    now = em.clock.now()
    decline = card.charge_decline or _expiry_decline(payment_method, now)
    if decline is None and card.requires_authentication and not authenticated:
        if not off_session:
            require_action(em, pi, payment_method)
            return None, None
        decline = AUTHENTICATION_REQUIRED
    manual = pi["capture_method"] == "manual"
    charge_id = em.ids.new("ch")
    captured = decline is None and not manual
    charge = shapes.new(
        "charge",
        id=charge_id,
        amount=pi["amount"],
        amount_captured=pi["amount"] if captured else 0,
        billing_details=dict(payment_method["billing_details"]),
        captured=captured,
        created=now,
        currency=pi["currency"],
        customer=pi["customer"],
        description=pi["description"],
        failure_code=decline.code if decline else None,
        failure_message=decline.message if decline else None,
        metadata=dict(pi["metadata"]),
        outcome=_outcome(decline),
        paid=decline is None,
        payment_intent=pi["id"],
        payment_method=payment_method["id"],
        payment_method_details=_card_details(payment_method, pi["amount"]),
        receipt_url=f"{em.public_url}/_emulator/receipts/{charge_id}",
        refunds=shapes.list_object([], f"/v1/charges/{charge_id}/refunds"),
        status="succeeded" if decline is None else "failed",
    )
    em.store.put(charge)
    em.store.notes[charge_id]["available_on"] = now if card.bypass_pending else now + 2 * DAY
    live = pi
    live["payment_method"] = payment_method["id"]
    live["latest_charge"] = charge_id
    live["next_action"] = None
    if decline is None and manual:
        live["status"] = "requires_capture"
        live["amount_capturable"] = pi["amount"]
        live["last_payment_error"] = None
        em.bus.emit("charge.succeeded", charge)
        em.bus.emit("payment_intent.amount_capturable_updated", live)
    elif decline is None:
        live["status"] = "succeeded"
        live["amount_received"] = pi["amount"]
        live["last_payment_error"] = None
        em.bus.emit("charge.succeeded", charge)
        em.bus.emit("payment_intent.succeeded", live)
    else:
        live["status"] = "requires_payment_method"
        live["last_payment_error"] = payment_error(em, decline, charge_id, payment_method)
        em.bus.emit("charge.failed", charge)
        em.bus.emit("payment_intent.payment_failed", live)
    if decline is None and card.dispute is not None:
        from .resources.disputes import open_dispute

        # The test card's bank disputes the payment as soon as it succeeds.
        open_dispute(
            em,
            charge_id,
            "fraudulent" if card.dispute == "fraudulent" else "general",
            inquiry=card.dispute == "inquiry",
        )
    return charge, decline


def capture(em: StripeEmulator, pi: Obj, amount: int | None) -> None:
    """``POST /v1/payment_intents/{id}/capture``: take the authorised amount (or less)."""
    amount = pi["amount_capturable"] if amount is None else amount
    charge = em.store.require("charge", pi["latest_charge"])
    charge["captured"] = True
    charge["amount_captured"] = amount
    charge["amount_refunded"] = pi["amount"] - amount
    pi["status"] = "succeeded"
    pi["amount_received"] = amount
    pi["amount_capturable"] = 0
    em.bus.emit("charge.captured", charge)
    em.bus.emit("payment_intent.succeeded", pi)


def fail_authentication(em: StripeEmulator, pi: Obj) -> None:
    """The customer failed (or abandoned) 3-D Secure: the intent needs a new method."""
    pm = em.store.get(pi["payment_method"] or "")
    pi["status"] = "requires_payment_method"
    pi["next_action"] = None
    pi["last_payment_error"] = payment_error(em, AUTHENTICATION_FAILED, None, pm)
    pi["last_payment_error"]["type"] = "invalid_request_error"
    em.bus.emit("payment_intent.payment_failed", pi)


def _expiry_decline(payment_method: Obj, now: int) -> Decline | None:
    """A card is good through the last day of its expiry month; after that Stripe's
    `expired_card` decline (so a renewal can fail on a card that worked at sign-up)."""
    card = payment_method.get("card") or {}
    month, year = card.get("exp_month"), card.get("exp_year")
    if not isinstance(month, int) or not isinstance(year, int):
        return None
    today = datetime.fromtimestamp(now, tz=timezone.utc)
    return EXPIRED if (year, month) < (today.year, today.month) else None


def payment_error(
    em: StripeEmulator, decline: Decline, charge_id: str | None, payment_method: Obj | None
) -> Obj:
    error: Obj = {
        "charge": charge_id,
        "code": decline.code,
        "decline_code": decline.decline_code,
        "doc_url": f"https://stripe.com/docs/error-codes/{decline.code.replace('_', '-')}",
        "message": decline.message,
        "type": "card_error",
    }
    if payment_method is not None:
        error["payment_method"] = em.render(payment_method, {})
    return error


def cancel(em: StripeEmulator, pi: Obj, reason: str) -> None:
    if pi["status"] in ("succeeded", "canceled"):
        return
    pi["status"] = "canceled"
    pi["next_action"] = None
    pi["amount_capturable"] = 0
    pi["canceled_at"] = em.clock.now()
    pi["cancellation_reason"] = reason
    em.bus.emit("payment_intent.canceled", pi)
