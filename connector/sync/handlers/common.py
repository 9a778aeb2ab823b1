"""Small readers shared by the handlers."""

from __future__ import annotations

from typing import Any

from connector.billing.money import normalize_currency
from connector.sync.inbox import DONE, IGNORED

__all__ = ["DONE", "IGNORED", "currency_of", "event_object", "int_or_zero"]


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    obj = event["data"]["object"]
    if not isinstance(obj, dict):
        raise ValueError("event data.object is not an object")
    # Every handled object is keyed by its id; a null id would write a row keyed None.
    object_id = obj.get("id")
    if not isinstance(object_id, str) or not object_id:
        raise ValueError(f"event {event.get('id')} data.object has no id")
    return obj


def int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def currency_of(obj: dict[str, Any]) -> str:
    """The object's currency, never a default: 5000 yen read as usd would be written as 50.00."""
    currency = obj.get("currency")
    if not isinstance(currency, str) or not currency:
        raise ValueError(f"{obj.get('object') or 'object'} {obj.get('id')} has no currency")
    return normalize_currency(currency)
