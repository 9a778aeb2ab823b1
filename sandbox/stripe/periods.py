"""Billing-period arithmetic on Unix seconds, in UTC, anchored like Stripe.

Period k starts at anchor + k intervals. Months are counted from the anchor (not from the
previous boundary), so a subscription anchored on the 31st bills on Feb 28 and then Mar 31.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone

DAY = 86_400

# Stripe's longest recurring interval is three years.
MAX_INTERVAL_COUNT = {"day": 1095, "week": 156, "month": 36, "year": 3}


def _add_months(ts: int, months: int) -> int:
    dt = datetime.fromtimestamp(ts, tz=timezone.utc)
    index = dt.month - 1 + months
    year, month = dt.year + index // 12, index % 12 + 1
    day = min(dt.day, calendar.monthrange(year, month)[1])
    return int(dt.replace(year=year, month=month, day=day).timestamp())


def boundary(anchor: int, interval: str, interval_count: int, k: int) -> int:
    """Start of period ``k`` (0 = the anchor)."""
    n = interval_count * k
    if interval == "day":
        return anchor + n * DAY
    if interval == "week":
        return anchor + n * 7 * DAY
    if interval == "month":
        return _add_months(anchor, n)
    if interval == "year":
        return _add_months(anchor, 12 * n)
    raise ValueError(f"unknown interval {interval!r}")
