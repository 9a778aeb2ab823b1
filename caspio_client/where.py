"""Safe builders for Caspio WHERE clauses (``q.where``).

Caspio hands ``q.where`` to SQL Server, so every value is rendered here as a T-SQL
literal and every field name is checked against a strict pattern. Call sites never
paste raw values into a string; they combine ``Where`` objects instead.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote_plus

__all__ = [
    "Where",
    "and_",
    "between",
    "eq",
    "field",
    "ge",
    "gt",
    "in_",
    "in_chunks",
    "is_not_null",
    "is_null",
    "le",
    "like",
    "literal",
    "lt",
    "ne",
    "not_",
    "or_",
]

_FIELD_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")

# Values that `literal` knows how to render.
SqlValue = str | int | float | Decimal | bool | dt.date | dt.datetime


@dataclass(frozen=True)
class Where:
    """One rendered condition; ``sql`` is the text sent as ``q.where``."""

    sql: str

    def __str__(self) -> str:
        return self.sql

    def __and__(self, other: Where) -> Where:
        return and_(self, other)

    def __or__(self, other: Where) -> Where:
        return or_(self, other)

    def __invert__(self) -> Where:
        return not_(self)


def field(name: str) -> str:
    """Return ``name`` if it is a plain Caspio field name, else raise ValueError."""
    if not isinstance(name, str) or not _FIELD_NAME.fullmatch(name):
        raise ValueError(f"not a valid field name: {name!r}")
    return name


def literal(value: SqlValue) -> str:
    """Render one Python value as a T-SQL literal."""
    # bool before int: bool is a subclass of int.
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot compare with a non-finite number: {value!r}")
        # repr gives the shortest exact text; Decimal turns "1e-07" into plain digits.
        return _plain_decimal(Decimal(repr(value)))
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot compare with a non-finite number: {value!r}")
        return _plain_decimal(value)
    # datetime before date: datetime is a subclass of date.
    if isinstance(value, dt.datetime):
        return _quote(_datetime_text(value))
    if isinstance(value, dt.date):
        return _quote(value.isoformat())
    if isinstance(value, str):
        return _quote(value)
    raise TypeError(f"cannot render a {type(value).__name__} as a WHERE value")


def _plain_decimal(value: Decimal) -> str:
    text = format(value, "f")
    return "0" if text in ("-0", "-0.0") else text


def _datetime_text(value: dt.datetime) -> str:
    # Caspio stores zone-less date/times; this project keeps them in UTC.
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
    if value.microsecond:
        # Keep sub-second precision (SQL Server datetime holds milliseconds).
        return value.isoformat(timespec="milliseconds")
    return value.isoformat(timespec="seconds")


def _quote(text: str) -> str:
    if "\x00" in text:
        raise ValueError("a WHERE value cannot contain a NUL character")
    escaped = text.replace("'", "''")
    # N'...' keeps non-ASCII text intact on SQL Server (otherwise it goes through a code page).
    prefix = "" if text.isascii() else "N"
    return f"{prefix}'{escaped}'"


def _compare(name: str, operator: str, value: SqlValue) -> Where:
    if value is None:
        raise ValueError(f"cannot use {operator} with None; use is_null / is_not_null")
    return Where(f"{field(name)} {operator} {literal(value)}")


def eq(name: str, value: SqlValue | None) -> Where:
    """``name = value``; ``None`` gives ``name IS NULL``."""
    if value is None:
        return is_null(name)
    return _compare(name, "=", value)


def ne(name: str, value: SqlValue | None) -> Where:
    """``name <> value``; ``None`` gives ``name IS NOT NULL``."""
    if value is None:
        return is_not_null(name)
    return _compare(name, "<>", value)


def lt(name: str, value: SqlValue) -> Where:
    return _compare(name, "<", value)


def le(name: str, value: SqlValue) -> Where:
    return _compare(name, "<=", value)


def gt(name: str, value: SqlValue) -> Where:
    return _compare(name, ">", value)


def ge(name: str, value: SqlValue) -> Where:
    return _compare(name, ">=", value)


def like(name: str, pattern: str) -> Where:
    """``name LIKE 'pattern'``; ``%`` and ``_`` in ``pattern`` stay wildcards."""
    if not isinstance(pattern, str):
        raise TypeError("a LIKE pattern must be a string")
    return _compare(name, "LIKE", pattern)


def is_null(name: str) -> Where:
    return Where(f"{field(name)} IS NULL")


def is_not_null(name: str) -> Where:
    return Where(f"{field(name)} IS NOT NULL")


def between(name: str, low: SqlValue, high: SqlValue) -> Where:
    if low is None or high is None:
        raise ValueError("BETWEEN needs two values")
    return Where(f"{field(name)} BETWEEN {literal(low)} AND {literal(high)}")


def in_(name: str, values: Iterable[SqlValue | None]) -> Where:
    """``name IN (...)``; ``None`` among the values also matches NULL.

    An empty list matches nothing (``1=0``) instead of producing invalid SQL.
    """
    if isinstance(values, (str, bytes)):
        raise TypeError("in_ needs a collection of values, not a single string")
    column = field(name)
    items = list(values)
    present = [literal(v) for v in items if v is not None]
    parts: list[str] = []
    if present:
        parts.append(f"{column} IN ({', '.join(present)})")
    if len(present) != len(items):
        parts.append(f"{column} IS NULL")
    if not parts:
        return Where("1=0")
    if len(parts) == 1:
        return Where(parts[0])
    return Where(f"({parts[0]} OR {parts[1]})")


# Caspio answers 414 to a request URI over 2,047 characters (caspio-rest-api.md §2); the
# rest of the URI (account, path, select, paging) stays well under the other ~550.
MAX_WHERE_URI_CHARS = 1500


def in_chunks(
    name: str, values: Iterable[SqlValue], max_uri_chars: int = MAX_WHERE_URI_CHARS
) -> Iterator[Where]:
    """``name IN (...)`` conditions covering `values`, each short enough for one request.

    The values are split so that each clause, URL-encoded as it travels in ``q.where``,
    stays within `max_uri_chars`: long keys such as GUIDs fit fewer per request than short
    ones. Yields nothing for no values. Raises ValueError for one value too long on its own.
    """
    column = field(name)
    frame = len(quote_plus(f"{column} IN ()"))
    separator = len(quote_plus(", "))
    chunk: list[str] = []
    size = frame
    for value in values:
        rendered = literal(value)
        cost = len(quote_plus(rendered))
        if frame + cost > max_uri_chars:
            raise ValueError(f"a value for {name} is too long for one Caspio request")
        extra = cost + (separator if chunk else 0)
        if chunk and size + extra > max_uri_chars:
            yield Where(f"{column} IN ({', '.join(chunk)})")
            chunk, size, extra = [], frame, cost
        chunk.append(rendered)
        size += extra
    if chunk:
        yield Where(f"{column} IN ({', '.join(chunk)})")


def _combine(operator: str, conditions: tuple[Where | None, ...]) -> Where:
    # None entries are skipped so callers can build conditions optionally.
    parts = [c for c in conditions if c is not None]
    for part in parts:
        if not isinstance(part, Where):
            raise TypeError(f"{operator} takes Where objects, not {type(part).__name__}")
        if not part.sql.strip():
            raise ValueError(f"{operator} got an empty condition")
    if not parts:
        # No silent "match everything": an empty AND could turn into DELETE of all rows.
        raise ValueError(f"{operator} needs at least one condition")
    if len(parts) == 1:
        return parts[0]
    return Where(f" {operator} ".join(f"({p.sql})" for p in parts))


def and_(*conditions: Where | None) -> Where:
    return _combine("AND", conditions)


def or_(*conditions: Where | None) -> Where:
    return _combine("OR", conditions)


def not_(condition: Where) -> Where:
    if not isinstance(condition, Where):
        raise TypeError(f"not_ takes a Where, not {type(condition).__name__}")
    if not condition.sql.strip():
        raise ValueError("not_ got an empty condition")
    return Where(f"NOT ({condition.sql})")
