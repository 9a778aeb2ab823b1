"""The demo plans the sandbox seeds into Billing_Plans on a fresh data folder.

Gold, Silver and Platinum at each interval Stripe bills (day, week, month, year); one plan
with an introductory price (the first three months cheaper, a subscription schedule); one
free-trial plan (a first month at 0, which Stripe runs as a trial) and one pay plan (a
balance paid in installments, then `completed`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

TIERS = {"Silver": Decimal("1.00"), "Gold": Decimal("2.00"), "Platinum": Decimal("5.00")}
# Price per interval as a multiple of the tier's daily price (a discount for longer terms).
INTERVALS = {"day": 1, "week": 6, "month": 20, "year": 200}


def demo_plans() -> list[dict[str, Any]]:
    """Billing_Plans rows (logical field names), amounts as Decimal."""
    rows: list[dict[str, Any]] = []
    for tier, daily in TIERS.items():
        for interval, factor in INTERVALS.items():
            rows.append({
                "PlanKey": f"{tier.lower()}-{interval}ly".replace("dayly", "daily"),
                "Name": f"{tier} {interval}ly".replace("dayly", "daily"),
                "Tier": tier,
                "Description": f"{tier} membership, billed every {interval}",
                "Amount": daily * factor,
                "Currency": "usd",
                "BillingInterval": interval,
                "IntervalCount": 1,
                "PlanType": "subscription",
                "Active": True,
            })
    rows += [
        {
            "PlanKey": "gold-monthly-intro", "Name": "Gold monthly, 3 months at 9.99",
            "Tier": "Gold", "Description": "Gold at 9.99 for three months, then 40.00",
            "Amount": Decimal("40.00"), "Currency": "usd", "BillingInterval": "month",
            "IntervalCount": 1, "PlanType": "subscription", "IntroAmount": Decimal("9.99"),
            "IntroIntervals": 3, "Active": True,
        },
        {
            "PlanKey": "silver-monthly-trial", "Name": "Silver monthly, first month free",
            "Tier": "Silver", "Description": "A free first month, then 20.00 a month",
            "Amount": Decimal("20.00"), "Currency": "usd", "BillingInterval": "month",
            "IntervalCount": 1, "PlanType": "subscription", "IntroAmount": Decimal("0"),
            "IntroIntervals": 1, "Active": True,
        },
        {
            "PlanKey": "platinum-payplan", "Name": "Platinum course, 300.00 in 3 payments",
            "Tier": "Platinum", "Description": "300.00 paid in three monthly installments",
            "Currency": "usd", "BillingInterval": "month", "IntervalCount": 1,
            "PlanType": "payplan", "Balance": Decimal("300.00"), "Installments": 3, "Active": True,
        },
    ]
    return rows
