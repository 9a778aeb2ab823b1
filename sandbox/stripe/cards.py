"""Stripe's test cards and test payment-method ids, and what each does.

=================================  ==================  =========================================
card / id                          attach              charge
=================================  ==================  =========================================
4242424242424242, pm_card_visa     ok                  succeeds
5555555555554444, pm_card_mastercard ok                succeeds
4000056655665556, pm_card_visa_debit ok                succeeds
4000000000000341,                  ok                  card_declined / generic_decline
  pm_card_chargeCustomerFail
4000000000000002                   402 card_declined / generic_decline
4000000000009995                   402 card_declined / insufficient_funds
4000000000000069                   402 expired_card / expired_card
pm_card_chargeDeclined,            ok                  card_declined / generic_decline
  pm_card_visa_chargeDeclined
pm_card_chargeDeclinedInsufficientFunds  ok            card_declined / insufficient_funds
pm_card_chargeDeclinedExpiredCard  ok                  expired_card / expired_card
4000002500003155,                  ok                  on session: requires_action (3-D Secure);
  pm_card_authenticationRequired                       off session: authentication_required
4000000000003220,                  ok                  like authenticationRequired (3DS2 always)
  pm_card_threeDSecure2Required
4000000000000259, pm_card_createDispute  ok            succeeds, then a fraudulent dispute opens
4000000000001976,                  ok                  succeeds, then an inquiry opens
  pm_card_createDisputeInquiry
4000000000000077, pm_card_bypassPending  ok            succeeds; funds available at once
=================================  ==================  =========================================

Raw numbers 0002/9995/0069 decline when the card is attached (as Stripe's card check does);
the ``pm_card_chargeDeclined*`` ids exist to attach fine and decline the charge, like 0341.
``tok_*`` names map like their ``pm_card_*`` twins. Any other number that passes the Luhn
check behaves like a good card of the brand its prefix names; a failing Luhn check is
``incorrect_number``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass


@dataclass(frozen=True)
class Decline:
    code: str
    decline_code: str
    message: str


GENERIC = Decline("card_declined", "generic_decline", "Your card was declined.")
INSUFFICIENT = Decline("card_declined", "insufficient_funds", "Your card has insufficient funds.")
EXPIRED = Decline("expired_card", "expired_card", "Your card has expired.")
INCORRECT = Decline("incorrect_number", "incorrect_number", "Your card number is incorrect.")


@dataclass(frozen=True)
class Card:
    number: str
    brand: str
    funding: str = "credit"
    attach_decline: Decline | None = None
    charge_decline: Decline | None = None
    # 3-D Secure: an on-session payment or setup waits in requires_action.
    requires_authentication: bool = False
    # After a successful charge the card's bank opens a dispute of this kind.
    dispute: str | None = None  # "fraudulent" | "inquiry"
    # Funds of its charges are available at once (otherwise after two days).
    bypass_pending: bool = False

    @property
    def last4(self) -> str:
        return self.number[-4:]

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(self.number.encode()).hexdigest()[:16]


VISA = Card("4242424242424242", "visa")
MASTERCARD = Card("5555555555554444", "mastercard")
VISA_DEBIT = Card("4000056655665556", "visa", funding="debit")
CUSTOMER_FAIL = Card("4000000000000341", "visa", charge_decline=GENERIC)
AUTHENTICATION = Card("4000002500003155", "visa", requires_authentication=True)
THREE_D_SECURE_2 = Card("4000000000003220", "visa", requires_authentication=True)
DISPUTE = Card("4000000000000259", "visa", dispute="fraudulent")
DISPUTE_INQUIRY = Card("4000000000001976", "visa", dispute="inquiry")
BYPASS_PENDING = Card("4000000000000077", "visa", bypass_pending=True)

AUTHENTICATION_REQUIRED = Decline(
    "authentication_required",
    "authentication_required",
    "Your card was declined. This transaction requires authentication.",
)
AUTHENTICATION_FAILED = Decline(
    "payment_intent_authentication_failure",
    "authentication_failure",
    "The provided PaymentMethod has failed authentication. You can provide payment_method_data "
    "or a new PaymentMethod to attempt to fulfill this PaymentIntent again.",
)

BY_NUMBER: dict[str, Card] = {
    c.number: c
    for c in (
        VISA,
        MASTERCARD,
        VISA_DEBIT,
        CUSTOMER_FAIL,
        AUTHENTICATION,
        THREE_D_SECURE_2,
        DISPUTE,
        DISPUTE_INQUIRY,
        BYPASS_PENDING,
        Card("4000000000000002", "visa", attach_decline=GENERIC),
        Card("4000000000009995", "visa", attach_decline=INSUFFICIENT),
        Card("4000000000000069", "visa", attach_decline=EXPIRED),
    )
}

_NAMED: dict[str, Card] = {
    "visa": VISA,
    "mastercard": MASTERCARD,
    "visa_debit": VISA_DEBIT,
    "chargeCustomerFail": CUSTOMER_FAIL,
    "chargeDeclined": Card("4000000000000002", "visa", charge_decline=GENERIC),
    "visa_chargeDeclined": Card("4000000000000002", "visa", charge_decline=GENERIC),
    "chargeDeclinedInsufficientFunds": Card(
        "4000000000009995", "visa", charge_decline=INSUFFICIENT
    ),
    "chargeDeclinedExpiredCard": Card("4000000000000069", "visa", charge_decline=EXPIRED),
    "authenticationRequired": AUTHENTICATION,
    "threeDSecure2Required": THREE_D_SECURE_2,
    "createDispute": DISPUTE,
    "createDisputeInquiry": DISPUTE_INQUIRY,
    "bypassPending": BYPASS_PENDING,
}

TEST_PAYMENT_METHODS: dict[str, Card] = {f"pm_card_{k}": v for k, v in _NAMED.items()}
TEST_TOKENS: dict[str, Card] = {f"tok_{k}": v for k, v in _NAMED.items()}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    total = 0
    for i, ch in enumerate(reversed(number)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _brand(number: str) -> str:
    if number.startswith("4"):
        return "visa"
    if number[:2] in {"51", "52", "53", "54", "55"} or number.startswith("2"):
        return "mastercard"
    if number[:2] in {"34", "37"}:
        return "amex"
    if number.startswith("6"):
        return "discover"
    return "unknown"


def card_for_number(number: str) -> Card:
    """The behaviour of a raw card number (spaces ignored)."""
    digits = number.replace(" ", "")
    known = BY_NUMBER.get(digits)
    if known is not None:
        return known
    if not luhn_ok(digits):
        return Card(digits or "0000", "unknown", attach_decline=INCORRECT)
    return Card(digits, _brand(digits))
