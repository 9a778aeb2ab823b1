"""Remembered lookups: Stripe id -> Caspio key, plan key -> plan facts, charge -> invoice.

Every entry saves a Caspio or Stripe call the next time the same question comes up. Entries
are facts that do not change (a subscription's Caspio key, a charge's invoice), so they are
kept without expiry; `forget` drops one that turned out wrong.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from connector.store import Store, key_cache

SUBSCRIPTION_KEY = "subscription_key"  # sub_… -> Billing_Subscriptions.SubscriptionKey
CUSTOMER_KEY = "customer_key"  # cus_… -> Billing_Customers.CustomerKey
PLAN = "plan"  # PlanKey -> {"PlanType", "Balance", "Currency"}
CHARGE_INVOICE = "charge_invoice"  # ch_… / pi_… -> in_…


class KeyCache:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, kind: str, lookup: str) -> Any:
        c = key_cache.c
        with self.store.engine.connect() as conn:
            value = conn.execute(
                sa.select(c.value).where(c.kind == kind, c.lookup == lookup)
            ).scalar()
        return None if value is None else json.loads(value)

    def put(self, kind: str, lookup: str, value: Any) -> None:
        c = key_cache.c
        text = json.dumps(value, sort_keys=True)
        with self.store.transaction() as conn:
            updated = conn.execute(
                key_cache.update()
                .where(c.kind == kind, c.lookup == lookup)
                .values(value=text, updated_at=self.clock())
            ).rowcount
            if not updated:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            key_cache.insert().values(
                                kind=kind, lookup=lookup, value=text, updated_at=self.clock()
                            )
                        )
                except sa.exc.IntegrityError:
                    pass  # a concurrent put stored the same fact

    def claim(self, kind: str, lookup: str, value: Any = True) -> bool:
        """Store a fact only if none is stored: True for the first caller, False for every
        later or concurrent one (the primary key decides; used to deduplicate deliveries)."""
        text = json.dumps(value, sort_keys=True)
        try:
            with self.store.transaction() as conn:
                conn.execute(
                    key_cache.insert().values(
                        kind=kind, lookup=lookup, value=text, updated_at=self.clock()
                    )
                )
        except sa.exc.IntegrityError:
            return False
        return True

    def forget(self, kind: str, lookup: str) -> None:
        c = key_cache.c
        with self.store.transaction() as conn:
            conn.execute(key_cache.delete().where(c.kind == kind, c.lookup == lookup))
