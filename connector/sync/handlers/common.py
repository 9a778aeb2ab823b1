"""Small readers shared by the handlers."""

from __future__ import annotations

from typing import Any

from connector.sync.inbox import DONE, IGNORED

__all__ = ["DONE", "IGNORED", "event_object", "int_or_zero"]


def event_object(event: dict[str, Any]) -> dict[str, Any]:
    obj = event["data"]["object"]
    if not isinstance(obj, dict):
        raise ValueError("event data.object is not an object")
    return obj


def int_or_zero(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
