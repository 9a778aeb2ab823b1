"""Python values -> what Caspio's REST API takes in JSON, and what the bridge remembers.

Caspio reads DATE/TIME as `YYYY-MM-DDTHH:MM:SS` without a zone (the bridge writes UTC),
YES/NO as JSON booleans and CURRENCY/NUMBER as JSON numbers. Money reaches here as Decimal
with at most the currency's decimals, so its float has the same shortest text.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

WireValue = str | int | float | bool | None


def to_wire(value: Any) -> WireValue:
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float):
        return value
    if isinstance(value, dt.datetime):
        moment = value
        if moment.tzinfo is not None:
            moment = moment.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return moment.replace(microsecond=0).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat() + "T00:00:00"
    raise TypeError(f"cannot write {type(value).__name__} to Caspio")


def wire_row(values: Mapping[str, Any]) -> dict[str, WireValue]:
    return {name: to_wire(value) for name, value in values.items()}


def from_unix(seconds: int | None) -> dt.datetime | None:
    """A Stripe timestamp as an aware UTC datetime."""
    if seconds is None:
        return None
    return dt.datetime.fromtimestamp(int(seconds), tz=dt.timezone.utc)
