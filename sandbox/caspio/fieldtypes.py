"""Caspio field types: how each is stored in SQLite and how it looks in JSON.

Storage choices (all exact, all comparable inside SQLite):
- text types are TEXT with the ``CASPIO_CI`` collation: SQL Server's default collation is
  case-insensitive and ignores trailing spaces in ``=``, and Caspio inherits both;
- CURRENCY is SQL Server ``money``: an INTEGER count of 1/10,000, so sums and comparisons
  never meet binary floating point; it is returned as a JSON number;
- DATE/TIME and TIMESTAMP are TEXT ``YYYY-MM-DDTHH:MM:SS[.fff]`` (no zone), whose text order
  is time order;
- YES/NO is INTEGER 0/1 and never NULL (unset reads ``false``).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from sandbox.caspio.errors import invalid_value, sql_error

CURRENCY_SCALE = 10_000
_MONEY_LIMIT = Decimal("922337203685477.5807")
_INT32 = (-(2**31), 2**31 - 1)


@dataclass(frozen=True)
class TypeSpec:
    token: str
    sqlite_decl: str
    read_only: bool = False
    max_length: int | None = None
    #: One of text, number, integer, currency, datetime, bool.
    kind: str = "text"
    #: Must the field be created with Unique = true (newer DOC-SPEC)?
    must_be_unique: bool = False
    #: Does an empty value read as "" rather than null?
    blank_is_empty_string: bool = False


_TEXT_DECL = "TEXT COLLATE CASPIO_CI"

TYPES: dict[str, TypeSpec] = {
    spec.token: spec
    for spec in (
        TypeSpec("STRING", _TEXT_DECL, max_length=255, blank_is_empty_string=True),
        TypeSpec("TEXT", _TEXT_DECL, max_length=64000, blank_is_empty_string=True),
        TypeSpec("FILE", _TEXT_DECL, max_length=4000),
        TypeSpec("NUMBER", "REAL", kind="number"),
        TypeSpec("INTEGER", "INTEGER", kind="integer"),
        TypeSpec("CURRENCY", "INTEGER", kind="currency"),
        TypeSpec("DATE/TIME", "TEXT", kind="datetime"),
        TypeSpec("YES/NO", "INTEGER NOT NULL DEFAULT 0", kind="bool"),
        TypeSpec("AUTONUMBER", "INTEGER", read_only=True, kind="integer", must_be_unique=True),
        TypeSpec("PREFIXED AUTONUMBER", _TEXT_DECL, read_only=True, must_be_unique=True),
        TypeSpec("GUID", _TEXT_DECL, read_only=True, must_be_unique=True),
        TypeSpec("RANDOM ID", _TEXT_DECL, read_only=True, must_be_unique=True),
        TypeSpec("TIMESTAMP", "TEXT", read_only=True, kind="datetime"),
    )
}

#: The system key every table has: read-only, returned with every record.
PK_SPEC = TypeSpec("AUTONUMBER", "INTEGER PRIMARY KEY AUTOINCREMENT", read_only=True,
                   kind="integer")


def type_spec(token: str) -> TypeSpec:
    return TYPES[token]


# ---------------------------------------------------------------- date/time text


_DATE_PATTERNS = (
    # ISO date, optional time with T or space, optional fraction, optional zone.
    re.compile(
        r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})"
        r"(?:[T ](?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,7}))?)?)?"
        r"(?P<z>Z|[+-]\d{2}:?\d{2})?"
    ),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})"),
    # SQL Server's us_english default: month/day/year.
    re.compile(
        r"(?P<m>\d{1,2})/(?P<d>\d{1,2})/(?P<y>\d{4})"
        r"(?: (?P<H>\d{1,2}):(?P<M>\d{2})(?::(?P<S>\d{2}))?(?: ?(?P<p>[AaPp][Mm]))?)?"
    ),
)


def parse_datetime(text: str) -> dt.datetime | None:
    """Parse the date/time strings SQL Server accepts here; None if not a date."""
    text = text.strip()
    for pattern in _DATE_PATTERNS:
        match = pattern.fullmatch(text)
        if match:
            return _from_match(match.groupdict())
    return None


def _from_match(parts: dict[str, str | None]) -> dt.datetime | None:
    def num(key: str) -> int:
        value = parts.get(key)
        return int(value) if value else 0

    hour = num("H")
    meridiem = (parts.get("p") or "").upper()
    if meridiem == "PM" and hour < 12:
        hour += 12
    elif meridiem == "AM" and hour == 12:
        hour = 0
    fraction = (parts.get("f") or "").ljust(6, "0")[:6]
    try:
        value = dt.datetime(num("y"), num("m"), num("d"), hour, num("M"), num("S"),
                            int(fraction))
    except ValueError:
        return None
    zone = parts.get("z")
    if zone:
        # Caspio keeps no zone: an explicit one is converted to UTC and dropped.
        offset = dt.timezone.utc if zone == "Z" else _offset(zone)
        value = value.replace(tzinfo=offset).astimezone(dt.timezone.utc).replace(tzinfo=None)
    return value


def _offset(zone: str) -> dt.timezone:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return dt.timezone(sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))


def format_datetime(value: dt.datetime) -> str:
    """Caspio's form: no zone, seconds always, milliseconds only when not zero."""
    millis = round(value.microsecond / 1000)
    if millis == 1000:
        value = value.replace(microsecond=0) + dt.timedelta(seconds=1)
        millis = 0
    text = value.replace(microsecond=0).isoformat(timespec="seconds")
    return f"{text}.{millis:03d}" if millis else text


# ---------------------------------------------------------------- values written in JSON


# SQL Server's varchar-to-bit conversion: 'true'/'false' (any case) and '1'/'0'; not 'yes'.
_TRUE_TEXT = ("true", "1")
_FALSE_TEXT = ("false", "0")


def _from_text(kind: str, field_name: str, text: str) -> Any:
    """A JSON string for a number, currency or yes/no field, converted as Caspio converts
    it (``"7"``, ``" 12.50 "``, ``"true"``); None for a blank string; InvalidInputValue
    for text that is no such value."""
    stripped = text.strip()
    if stripped == "":
        return None
    if kind == "bool":
        lowered = stripped.lower()
        if lowered in _TRUE_TEXT:
            return True
        if lowered in _FALSE_TEXT:
            return False
        raise invalid_value([field_name])
    try:
        number = Decimal(stripped)
    except InvalidOperation:
        raise invalid_value([field_name]) from None
    if not number.is_finite():
        raise invalid_value([field_name])
    return number


def to_storage(spec: TypeSpec, field_name: str, value: Any) -> Any:
    """Check a value from a request body and return what goes into SQLite.

    Numbers, currency and yes/no may also come as JSON strings, as Caspio's own clients
    (its n8n node) send them; Caspio converts those and so does the emulator.
    """
    kind = spec.kind
    if isinstance(value, str) and kind in ("number", "integer", "currency", "bool"):
        value = _from_text(kind, field_name, value)
    if value is None:
        return 0 if kind == "bool" else None
    if kind == "text":
        return _text_value(spec, field_name, value)
    if kind == "bool":
        if isinstance(value, bool) or (isinstance(value, int) and value in (0, 1)):
            return int(value)
        raise invalid_value([field_name])
    if kind == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise invalid_value([field_name])
        return format_datetime(parsed)
    # Request bodies are parsed with parse_float=Decimal, so JSON numbers stay exact.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        raise invalid_value([field_name])
    if isinstance(value, Decimal) and not value.is_finite():
        raise invalid_value([field_name])
    if kind == "integer":
        if value != int(value):
            raise invalid_value([field_name])
        number = int(value)
        if not _INT32[0] <= number <= _INT32[1]:
            raise sql_error("Arithmetic overflow error converting expression to data type int.")
        return number
    if kind == "currency":
        return _money(value if isinstance(value, Decimal) else Decimal(repr(value)))
    return float(value)


def _text_value(spec: TypeSpec, field_name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (str, int, float, Decimal)):
        raise invalid_value([field_name])
    text = value if isinstance(value, str) else str(value)
    if spec.max_length is not None and len(text) > spec.max_length:
        raise sql_error("String or binary data would be truncated.")
    return text


def _money(amount: Decimal) -> int:
    if not amount.is_finite() or abs(amount) > _MONEY_LIMIT:
        raise sql_error("Arithmetic overflow error converting numeric to data type money.")
    # SQL Server money keeps four decimals and rounds half away from zero.
    return int(amount.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP) * CURRENCY_SCALE)


def currency_number(stored: int | float) -> float:
    """Scaled money back to a JSON number: exact for every amount under 15 digits."""
    return float(Decimal(stored) / CURRENCY_SCALE)


def from_storage(spec: TypeSpec, stored: Any) -> Any:
    """Stored SQLite value to the value Caspio puts in JSON."""
    if stored is None:
        return "" if spec.blank_is_empty_string else (False if spec.kind == "bool" else None)
    if spec.kind == "bool":
        return bool(stored)
    if spec.kind == "currency":
        return currency_number(stored)
    if spec.kind == "number":
        return float(stored)
    return stored


# ---------------------------------------------------------------- literals in q.where


def literal_param(spec: TypeSpec, value: str | int | Decimal | None) -> Any:
    """A WHERE literal converted the way SQL Server converts it for this column type."""
    if value is None:
        return None
    kind = spec.kind
    if kind == "text":
        return value if isinstance(value, str) else str(value)
    if kind == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise sql_error(
                "Conversion failed when converting date and/or time from character string."
            )
        return format_datetime(parsed)
    if kind == "bool" and isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in ("true", "1"):
            return 1
        if lowered in ("false", "0"):
            return 0
        raise sql_error(f"Conversion failed when converting the varchar value '{value}' "
                        "to data type bit.")
    number = _number_literal(value)
    if kind == "currency":
        number = number * CURRENCY_SCALE
    if number == number.to_integral_value():
        return int(number)
    return float(number)


def _number_literal(value: str | int | Decimal) -> Decimal:
    if isinstance(value, str):
        try:
            number = Decimal(value.strip())
        except InvalidOperation:
            raise sql_error(f"Error converting data type varchar to numeric. ('{value}')") \
                from None
        if not number.is_finite():
            raise sql_error("Error converting data type varchar to numeric.")
        return number
    return Decimal(value)
