from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.billing.money import (
    THREE_DECIMAL,
    ZERO_DECIMAL,
    MoneyError,
    exponent,
    from_minor,
    normalize_currency,
    to_minor,
)


@pytest.mark.parametrize(
    ("amount", "currency", "minor"),
    [
        ("19.99", "usd", 1999),
        ("19.9900", "usd", 1999),  # Caspio CURRENCY may carry trailing zeros
        ("0", "usd", 0),
        ("1000000", "usd", 100000000),
        ("0.01", "usd", 1),
        ("500", "jpy", 500),
        ("500.00", "JPY", 500),
        ("5.12", "kwd", 5120),
        ("5.120", "kwd", 5120),
        ("0.01", "kwd", 10),
        ("5", "isk", 500),
        ("19.99", "eur", 1999),
    ],
)
def test_to_minor(amount, currency, minor):
    assert to_minor(Decimal(amount), currency) == minor


@pytest.mark.parametrize(
    ("amount", "currency", "message"),
    [
        ("19.999", "usd", "amount 19.999 has too many decimals for usd (at most 2 decimals)"),
        ("0.001", "usd", "too many decimals for usd"),
        ("500.5", "jpy", "amount 500.5 has too many decimals for jpy (no decimals)"),
        ("1.0001", "kwd", "too many decimals for kwd (at most 3 decimals)"),
        ("5.124", "kwd", "Stripe takes at most 2 decimals (the last must be 0)"),
        ("5.5", "isk", "Stripe takes whole units"),
    ],
)
def test_excess_precision_is_an_error_never_rounded(amount, currency, message):
    with pytest.raises(MoneyError) as caught:
        to_minor(Decimal(amount), currency)
    assert message in str(caught.value)


@pytest.mark.parametrize("bad", [19.99, 20.0, True, None, [1]])
def test_floats_and_other_types_are_refused(bad):
    with pytest.raises(MoneyError, match="must be"):
        to_minor(bad, "usd")


@pytest.mark.parametrize("bad", [Decimal("NaN"), Decimal("Infinity"), "abc"])
def test_non_numbers_are_refused(bad):
    with pytest.raises(MoneyError):
        to_minor(bad, "usd")


def test_integers_and_numeric_strings_are_exact():
    assert to_minor(20, "usd") == 2000
    assert to_minor(" 20.10 ", "usd") == 2010


@pytest.mark.parametrize(
    ("minor", "currency", "amount"),
    [(1999, "usd", "19.99"), (500, "jpy", "500"), (5120, "kwd", "5.120"), (1, "kwd", "0.001")],
)
def test_from_minor(minor, currency, amount):
    value = from_minor(minor, currency)
    assert value == Decimal(amount)
    assert str(value) == amount


def test_from_minor_refuses_non_integers():
    with pytest.raises(MoneyError):
        from_minor(19.99, "usd")  # type: ignore[arg-type]
    with pytest.raises(MoneyError):
        from_minor(True, "usd")


@pytest.mark.parametrize("bad", ["us", "usdd", "u$d", "", 840])
def test_malformed_currency(bad):
    with pytest.raises(MoneyError, match="currency"):
        to_minor(Decimal("1"), bad)


def test_currency_tables():
    assert exponent("usd") == 2
    assert exponent("JPY") == 0
    assert exponent("kwd") == 3
    assert len(ZERO_DECIMAL) == 16
    assert sorted(THREE_DECIMAL) == ["bhd", "jod", "kwd", "omr", "tnd"]
    assert normalize_currency(" EUR ") == "eur"


@given(
    minor=st.integers(min_value=0, max_value=10**12),
    currency=st.sampled_from(["usd", "jpy", "kwd", "eur", "bhd", "krw"]),
)
def test_round_trip(minor, currency):
    if currency in THREE_DECIMAL:
        minor -= minor % 10  # Stripe's last-digit-zero rule
    assert to_minor(from_minor(minor, currency), currency) == minor
