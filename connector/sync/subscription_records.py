"""The bridge's own record of each subscription's value: the only input to the totals.

Totals are computed from these rows, never by reading Caspio back, and recomputed only when
a subscription's counted value (status class, amount, currency, interval, customer) changes.
Customer keys are stored and compared as Caspio compares them (`caspio_key`), so two
spellings of one Caspio customer add up in one customer's totals.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
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


# Advisory-lock key space of the per-customer totals lock (the inbox uses 7261904).
TOTALS_LOCK_SPACE = 7261905
_local_locks: dict[tuple[int, str], threading.Lock] = {}
_local_guard = threading.Lock()


def _local_lock(store: Store, key: str) -> threading.Lock:
    with _local_guard:
        return _local_locks.setdefault((id(store.engine), key), threading.Lock())


class SubscriptionRecords:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    @contextlib.contextmanager
    def customer_lock(self, customer_keys: Iterable[str]) -> Iterator[None]:
        """Hold the totals lock of each Caspio customer named (as Caspio compares keys).

        The inbox never runs two events of one *Stripe* customer at once, but several
        Stripe customers may name one Caspio customer (`ck1-alice`, `CK1-ALICE`): without
        this lock two workers could each sum the records without the other's subscription
        and the later write would lose one. Locks are taken in key order, so two holders
        never wait on each other. PostgreSQL: session advisory locks (several processes);
        SQLite (one process): a thread lock per key."""
        keys = sorted({caspio_key(k) for k in customer_keys})
        if not keys:
            yield
            return
        if not self.store.is_postgres:
            with contextlib.ExitStack() as held:
                for key in keys:
                    held.enter_context(_local_lock(self.store, key))
                yield
            return
        with self.store.engine.connect() as conn:
            for key in keys:
                conn.execute(
                    sa.select(sa.func.pg_advisory_lock(TOTALS_LOCK_SPACE, sa.func.hashtext(key)))
                )
            conn.commit()
            try:
                yield
            finally:
                for key in reversed(keys):
                    conn.execute(
                        sa.select(
                            sa.func.pg_advisory_unlock(TOTALS_LOCK_SPACE, sa.func.hashtext(key))
                        )
                    )
                conn.commit()

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
