"""Exact money: ``Decimal`` amounts (Caspio) <-> integer minor units (Stripe).

Pure and float-free. An amount with more precision than Stripe accepts for its currency
is a ``MoneyError``; nothing is ever rounded here.

Currency rules (Stripe "Supported currencies", docs.stripe.com/currencies):

* zero-decimal (amount sent as is): bif clp djf gnf jpy kmf krw mga pyg rwf ugx vnd vuv
  xaf xof xpf;
* three-decimal (amount x 1000): bhd jod kwd omr tnd. Stripe requires the last digit of
  the minor-unit amount to be 0, so ``to_minor`` accepts at most two decimals of real
  precision for them (5.120 KWD -> 5120; 5.124 KWD is an error, never 5120);
* isk: Stripe treats it as zero-decimal but keeps the two-decimal API for backwards
  compatibility, so the amount is x 100 and must be whole krónur (5 ISK -> 500);
* every other currency: two decimals (x 100).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

__all__ = ["MoneyError", "exponent", "from_minor", "minor_step", "normalize_currency", "to_minor"]

ZERO_DECIMAL = frozenset(
    [
        "bif",
        "clp",
        "djf",
        "gnf",
        "jpy",
        "kmf",
        "krw",
        "mga",
        "pyg",
        "rwf",
        "ugx",
        "vnd",
        "vuv",
        "xaf",
        "xof",
        "xpf",
    ]
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])

# Currencies whose Stripe amounts must be a multiple of this many minor units.
_STEP = {**dict.fromkeys(THREE_DECIMAL, 10), "isk": 100}

_CURRENCY = re.compile(r"[a-z]{3}")


class MoneyError(ValueError):
    """An amount or currency Stripe cannot take exactly."""


def normalize_currency(currency: str) -> str:
    """Lower-case ISO 4217 code as Stripe wants it; raises MoneyError if malformed."""
    if not isinstance(currency, str):
        raise MoneyError(f"currency must be a text code, not {type(currency).__name__}")
    code = currency.strip().lower()
    if not _CURRENCY.fullmatch(code):
        raise MoneyError(f"currency {currency!r} is not a three-letter ISO code")
    return code


def exponent(currency: str) -> int:
    """Decimal places of Stripe's minor unit for ``currency`` (0, 2 or 3)."""
    code = normalize_currency(currency)
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def minor_step(currency: str) -> int:
    """The smallest amount Stripe charges in ``currency``, in minor units (10 fils, 100 for isk)."""
    return _STEP.get(normalize_currency(currency), 1)


def _as_decimal(amount: object) -> Decimal:
    # bool is an int subclass; floats are inexact. Both are refused outright.
    if isinstance(amount, (bool, float)):
        kind = type(amount).__name__
        raise MoneyError(f"amount {amount!r} must be a Decimal or an integer, not a {kind}")
    if isinstance(amount, Decimal):
        value = amount
    elif isinstance(amount, int):
        value = Decimal(amount)
    elif isinstance(amount, str):
        try:
            value = Decimal(amount.strip())
        except InvalidOperation:
            raise MoneyError(f"amount {amount!r} is not a number") from None
    else:
        raise MoneyError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not value.is_finite():
        raise MoneyError(f"amount {amount!r} is not a finite number")
    return value


def to_minor(amount: Decimal | int | str, currency: str) -> int:
    """Stripe's integer amount for ``amount`` in ``currency``.

    >>> to_minor(Decimal("19.99"), "usd"), to_minor(Decimal("500"), "JPY")
    (1999, 500)
    """
    code = normalize_currency(currency)
    value = _as_decimal(amount)
    scaled = value.scaleb(exponent(code))
    if scaled != scaled.to_integral_value():
        places = exponent(code)
        allowed = "no decimals" if places == 0 else f"at most {places} decimals"
        raise MoneyError(f"amount {value} has too many decimals for {code} ({allowed})")
    minor = int(scaled)
    step = _STEP.get(code, 1)
    if minor % step:
        allowed = "whole units" if code == "isk" else "at most 2 decimals (the last must be 0)"
        raise MoneyError(f"amount {value} has too many decimals for {code}: Stripe takes {allowed}")
    return minor


def from_minor(minor: int, currency: str) -> Decimal:
    """The ``Decimal`` amount for Stripe's integer ``minor`` units in ``currency``.

    >>> from_minor(1999, "usd"), from_minor(5120, "kwd")
    (Decimal('19.99'), Decimal('5.120'))
    """
    if isinstance(minor, bool) or not isinstance(minor, int):
        raise MoneyError(f"minor units must be an integer, not {type(minor).__name__}")
    return Decimal(minor).scaleb(-exponent(currency))
