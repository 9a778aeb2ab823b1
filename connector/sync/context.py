"""Everything a handler needs, built once per worker."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from connector.metrics import BridgeMetrics
from connector.store import Store
from connector.sync.caspio_writer import CaspioTables, CaspioWriter
from connector.sync.key_cache import KeyCache
from connector.sync.object_state import ObjectStates
from connector.sync.row_memory import RowMemory
from connector.sync.stripe_reader import StripeReader
from connector.sync.subscription_records import SubscriptionRecords


class RetryLinks(Protocol):
    """Issues the one-time RetryURL for a failed invoice (the retry feature provides it).

    Deterministic per (invoice, attempt) so that replaying an event writes the same link,
    and each new failed attempt gets a fresh one."""

    def issue(self, invoice_id: str, attempt: int) -> str: ...


@dataclass
class SyncContext:
    writer: CaspioWriter
    keys: KeyCache
    objects: ObjectStates
    subscriptions: SubscriptionRecords
    stripe: StripeReader | None
    past_due_access: bool = True
    retry_links: RetryLinks | None = None
    #: The app's metrics (connector.metrics); a private registry when none is given.
    metrics: BridgeMetrics = field(default_factory=BridgeMetrics)

    @classmethod
    def build(
        cls,
        store: Store,
        caspio: CaspioTables,
        *,
        mapping: Any = None,
        stripe: StripeReader | None = None,
        past_due_access: bool = True,
        retry_links: RetryLinks | None = None,
        clock: Callable[[], float] = time.time,
        metrics: BridgeMetrics | None = None,
    ) -> SyncContext:
        return cls(
            writer=CaspioWriter(caspio, RowMemory(store, clock=clock), mapping, clock=clock),
            keys=KeyCache(store, clock=clock),
            objects=ObjectStates(store, clock=clock),
            subscriptions=SubscriptionRecords(store, clock=clock),
            stripe=stripe,
            past_due_access=past_due_access,
            retry_links=retry_links,
            metrics=metrics if metrics is not None else BridgeMetrics(),
        )
