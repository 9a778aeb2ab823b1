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
    """The Retry feature's hook (`connector.links.retry_links.RetryLinks`).

    Called by the invoice handler with each payment outcome; returns the Billing_Payments
    fields to add to the handler's write: on a failure of an open invoice a fresh one-time
    `RetryURL` with `RetryStatus=available` (once per attempt_count), on success
    `RetryStatus=succeeded` for an invoice that ever had a link, on a void `failed` (with
    why) when a link was available, else nothing. `row` is
    what the handler is about to write (CustomerKey, FailureMessage…)."""

    def payment_fields(
        self,
        ctx: SyncContext,
        invoice: dict[str, Any],
        status: str,
        attempt: int,
        row: dict[str, Any],
    ) -> dict[str, Any]: ...

    def subscription_ended(self, ctx: SyncContext, subscription_id: str) -> int:
        """Called by the subscription handler when the subscription ended: its payments
        still showing `RetryStatus=available` get `failed` (written through `ctx.writer`)
        and their links stop working. Returns how many rows were written."""
        ...


class ScheduleAttacher(Protocol):
    """Gives a subscription the later phases its plan needs (sign-up provides it).

    Called once the first period is paid (Checkout completed); idempotent, so a replayed
    event changes nothing. Returns the subscription as it now is, or None when the plan
    needs no schedule."""

    def after_first_charge(
        self, subscription: dict[str, Any], subscription_key: str
    ) -> dict[str, Any] | None: ...


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
    schedules: ScheduleAttacher | None = None

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
        schedules: ScheduleAttacher | None = None,
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
            schedules=schedules,
        )
