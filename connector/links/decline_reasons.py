"""A card decline in plain words for the person who pressed Retry (pure).

Codes are Stripe's `decline_code` (else `code`) values; unknown codes fall back to Stripe's
own message, which is written for customers, then to a generic sentence.
"""

from __future__ import annotations

UPDATE_CARD = "Update the card with the card-update link, then use a new Retry link."
PLAIN: dict[str, str] = {
    "expired_card": "The card has expired.",
    "insufficient_funds": "The card has insufficient funds.",
    "incorrect_cvc": "The card's security code is incorrect.",
    "incorrect_number": "The card number is incorrect.",
    "card_declined": "The bank declined the card.",
    "generic_decline": "The bank declined the card.",
    "do_not_honor": "The bank declined the card.",
    "lost_card": "The bank declined the card.",
    "stolen_card": "The bank declined the card.",
    "fraudulent": "The bank declined the card.",
    "card_velocity_exceeded": "The card has reached its spending limit.",
    "processing_error": "The bank could not process the card; try again later.",
    "authentication_required": (
        "The bank asks the card holder to confirm this payment; use the invoice's payment page."
    ),
}


def plain_reason(code: str | None, stripe_message: str | None) -> str:
    """One or two sentences, never a raw code."""
    if code and code in PLAIN:
        return PLAIN[code]
    if stripe_message:
        return stripe_message
    return "The payment was declined."
