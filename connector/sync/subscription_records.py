"""The bridge's own record of each subscription's value: the only input to the totals.

Totals are computed from these rows, never by reading Caspio back, and recomputed only when
a subscription's counted value (status class, amount, currency, interval, customer) changes.
Customer keys are stored and compared as Caspio compares them (`caspio_key`), so two
spellings of one Caspio customer add up in one customer's totals.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from connector.store import Store, subscriptions
from connector.sync.caspio_keys import caspio_key
from connector.sync.totals import SubscriptionValue


@dataclass(frozen=True)
class SubscriptionRecord:
    subscription_id: str
    subscription_key: str | None
    customer_key: str | None
    status: str
    amount_minor: int
    currency: str
    interval: str
    interval_count: int

    @property
    def value(self) -> SubscriptionValue:
        return SubscriptionValue(
            self.subscription_id,
            self.status,
            self.amount_minor,
            self.currency,
            self.interval,
            self.interval_count,
        )

    def same_value(self, other: SubscriptionRecord | None) -> bool:
        """Would swapping `other` for this record leave every total unchanged?"""
        if other is None:
            return False
        mine, theirs = self.value, other.value
        return (
            same_customer(self.customer_key, other.customer_key)
            and mine.counted == theirs.counted
            and (mine.amount_minor, mine.currency, mine.interval, mine.interval_count)
            == (theirs.amount_minor, theirs.currency, theirs.interval, theirs.interval_count)
        )


def same_customer(a: str | None, b: str | None) -> bool:
    """Do two customer keys name one Caspio row?"""
    if a is None or b is None:
        return a is b
    return caspio_key(a) == caspio_key(b)


class SubscriptionRecords:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    @staticmethod
    def _record(row: sa.Row[Any]) -> SubscriptionRecord:
        return SubscriptionRecord(
            row.subscription_id,
            row.subscription_key,
            row.customer_key,
            row.status,
            int(row.amount_minor),
            row.currency,
            row.interval,
            int(row.interval_count),
        )

    def get(self, subscription_id: str) -> SubscriptionRecord | None:
        c = subscriptions.c
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(subscriptions).where(c.subscription_id == subscription_id)
            ).first()
        return None if row is None else self._record(row)

    def for_customer(self, customer_key: str) -> list[SubscriptionRecord]:
        c = subscriptions.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(subscriptions)
                .where(c.customer_key == caspio_key(customer_key))
                .order_by(c.subscription_id)
            ).all()
        return [self._record(row) for row in rows]

    def put(self, record: SubscriptionRecord) -> None:
        c = subscriptions.c
        fields = {
            "subscription_key": record.subscription_key,
            "customer_key": None
            if record.customer_key is None
            else caspio_key(record.customer_key),
            "status": record.status,
            "amount_minor": record.amount_minor,
            "currency": record.currency,
            "interval": record.interval,
            "interval_count": record.interval_count,
            "updated_at": self.clock(),
        }
        where = c.subscription_id == record.subscription_id
        with self.store.transaction() as conn:
            if not conn.execute(subscriptions.update().where(where).values(**fields)).rowcount:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            subscriptions.insert().values(
                                subscription_id=record.subscription_id, **fields
                            )
                        )
                except sa.exc.IntegrityError:
                    conn.execute(subscriptions.update().where(where).values(**fields))
