"""WHERE builders: values stay values, field names stay field names."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from caspio_client import where as w

# One comparison: field, operator, and exactly one T-SQL string literal up to the end.
_ONE_COMPARISON = re.compile(
    r"^([A-Za-z][A-Za-z0-9_]*) (=|<>|<|<=|>|>=|LIKE) (N?)'((?:[^']|'')*)'$"
)


def parse_string_comparison(sql: str) -> tuple[str, str, str]:
    """Parse `field op 'literal'` the way SQL Server tokenises it; fail on anything else."""
    m = _ONE_COMPARISON.match(sql)
    assert m, f"not a single comparison: {sql!r}"
    name, op, _prefix, body = m.groups()
    return name, op, body.replace("''", "'")


@pytest.mark.parametrize("value", ["O'Brien", "' OR 1=1 --", "'; DROP TABLE Plans; --", "''"])
def test_quotes_in_values_stay_inside_the_literal(value: str) -> None:
    clause = w.eq("Name", value)
    assert parse_string_comparison(clause.sql) == ("Name", "=", value)


def test_exact_text_for_the_classic_cases() -> None:
    assert w.eq("Name", "O'Brien").sql == "Name = 'O''Brien'"
    assert w.eq("Name", "' OR 1=1 --").sql == "Name = ''' OR 1=1 --'"


@given(st.text().filter(lambda s: "\x00" not in s))
def test_any_text_round_trips_as_one_literal(value: str) -> None:
    name, op, parsed = parse_string_comparison(w.eq("Email", value).sql)
    assert (name, op, parsed) == ("Email", "=", value)


def test_non_ascii_text_gets_the_unicode_prefix() -> None:
    assert w.eq("Name", "Zoë").sql == "Name = N'Zoë'"
    assert w.eq("Name", "Zoe").sql == "Name = 'Zoe'"
    assert w.literal("日本'語") == "N'日本''語'"


def test_nul_is_rejected() -> None:
    with pytest.raises(ValueError, match="NUL"):
        w.eq("Name", "a\x00b")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (True, "1"),
        (False, "0"),
        (42, "42"),
        (-7, "-7"),
        (Decimal("19.990"), "19.990"),
        (Decimal("1E+3"), "1000"),
        (1.5, "1.5"),
        (1e-7, "0.0000001"),
        (1e20, "100000000000000000000"),
        (-0.0, "0"),
        (dt.date(2026, 1, 31), "'2026-01-31'"),
        (dt.datetime(2026, 1, 31, 8, 5, 9), "'2026-01-31T08:05:09'"),
        (dt.datetime(2026, 1, 31, 8, 5, 9, 123456), "'2026-01-31T08:05:09.123'"),
    ],
)
def test_literals(value: w.SqlValue, text: str) -> None:
    assert w.literal(value) == text


def test_aware_datetimes_are_converted_to_utc() -> None:
    paris = dt.timezone(dt.timedelta(hours=2))
    assert w.literal(dt.datetime(2026, 7, 1, 1, 30, tzinfo=paris)) == "'2026-06-30T23:30:00'"


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), Decimal("NaN"), Decimal("-Infinity")]
)
def test_non_finite_numbers_are_rejected(value: float | Decimal) -> None:
    with pytest.raises(ValueError):
        w.literal(value)


@pytest.mark.parametrize("value", [b"bytes", object(), [1], None])
def test_unknown_types_are_rejected(value: object) -> None:
    with pytest.raises(TypeError):
        w.literal(value)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "name", ["", "1abc", "Name; DROP", "Name--", "Na me", "a" * 65, "PK_ID)", "É", "x'"]
)
def test_bad_field_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        w.eq(name, 1)


def test_operators() -> None:
    assert w.ne("Tier", "Gold").sql == "Tier <> 'Gold'"
    assert w.lt("Amount", 5).sql == "Amount < 5"
    assert w.le("Amount", 5).sql == "Amount <= 5"
    assert w.gt("Amount", 5).sql == "Amount > 5"
    assert w.ge("Created", dt.date(2026, 1, 1)).sql == "Created >= '2026-01-01'"
    assert w.like("Email", "%@example.com").sql == "Email LIKE '%@example.com'"
    assert w.between("Amount", 1, 10).sql == "Amount BETWEEN 1 AND 10"
    assert w.eq("Active", True).sql == "Active = 1"


def test_none_means_null() -> None:
    assert w.eq("CanceledAt", None).sql == "CanceledAt IS NULL"
    assert w.ne("CanceledAt", None).sql == "CanceledAt IS NOT NULL"
    assert w.is_null("X").sql == "X IS NULL"
    assert w.is_not_null("X").sql == "X IS NOT NULL"
    with pytest.raises(ValueError):
        w.gt("Amount", None)  # type: ignore[arg-type]


def test_in_lists() -> None:
    assert w.in_("Status", ["active", "past_due"]).sql == "Status IN ('active', 'past_due')"
    assert w.in_("PK_ID", (1, 2, 3)).sql == "PK_ID IN (1, 2, 3)"
    assert w.in_("Status", []).sql == "1=0"
    assert w.in_("Status", [None]).sql == "Status IS NULL"
    assert w.in_("Status", ["a", None]).sql == "(Status IN ('a') OR Status IS NULL)"
    assert w.in_("Name", ["O'Brien"]).sql == "Name IN ('O''Brien')"
    with pytest.raises(TypeError):
        w.in_("Status", "active")


def test_combinations_are_parenthesised() -> None:
    a, b, c = w.eq("A", 1), w.eq("B", 2), w.eq("C", 3)
    assert w.and_(a, b).sql == "(A = 1) AND (B = 2)"
    assert w.or_(w.and_(a, b), c).sql == "((A = 1) AND (B = 2)) OR (C = 3)"
    assert w.not_(a).sql == "NOT (A = 1)"
    assert (a & b).sql == w.and_(a, b).sql
    assert (a | b).sql == w.or_(a, b).sql
    assert (~a).sql == w.not_(a).sql
    assert w.and_(a, None).sql == "A = 1"


def test_empty_combinations_are_refused() -> None:
    with pytest.raises(ValueError):
        w.and_()
    with pytest.raises(ValueError):
        w.or_(None)
    with pytest.raises(ValueError):
        w.and_(w.Where(""), w.eq("A", 1))
    with pytest.raises(TypeError):
        w.and_("A = 1")  # type: ignore[arg-type]


def test_where_is_frozen() -> None:
    clause = w.eq("A", 1)
    with pytest.raises(AttributeError):
        clause.sql = "1=1"  # type: ignore[misc]


def test_in_chunks_keep_each_clause_under_the_uri_budget_and_cover_every_value():
    from urllib.parse import quote_plus

    keys = [f"{n:08d}-aaaa-bbbb-cccc-{n:012d}" for n in range(300)]  # GUID-shaped
    clauses = list(w.in_chunks("SubscriptionKey", keys, max_uri_chars=1500))
    assert len(clauses) > 1
    assert all(len(quote_plus(c.sql)) <= 1500 for c in clauses)
    rendered = " ".join(c.sql for c in clauses)
    assert all(f"'{k}'" in rendered for k in keys)
    assert sum(c.sql.count("'") for c in clauses) == 2 * len(keys)


def test_in_chunks_escape_values_and_refuse_one_too_long():
    (clause,) = list(w.in_chunks("Name", ["O'Brien"]))
    assert clause.sql == "Name IN ('O''Brien')"
    assert list(w.in_chunks("Name", [])) == []
    with pytest.raises(ValueError, match="too long"):
        list(w.in_chunks("Name", ["x" * 2000]))
