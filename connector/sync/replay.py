"""Catch up from Stripe's Events API: store the events of a window the inbox never saw.

Stripe keeps events for 30 days (https://docs.stripe.com/api/events: "events … are
retained for 30 days"); `GET /v1/events` lists them newest first, 100 per page. Each event
goes through the same door as a webhook (`EventEnvelope.parse`, `Inbox.record`), so one the
endpoint did receive is a duplicate and stored once, and the worker applies the new ones in
each object's `created` order.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from connector.sync.dispatch import HANDLED_TYPES
from connector.sync.inbox import EventEnvelope, Inbox, InvalidEvent

STRIPE_EVENT_RETENTION_SECONDS = 30 * 86400


@dataclass
class CatchUp:
    listed: int = 0
    stored: list[str] = field(default_factory=list)  # event ids new to the inbox, in order
    unreadable: list[str] = field(default_factory=list)

    @property
    def already_seen(self) -> int:
        return self.listed - len(self.stored) - len(self.unreadable)


def fetch_missed_events(
    stripe_client: Any,  # stripe.StripeClient
    inbox: Inbox,
    *,
    since: int,
    until: int | None = None,
    clock: Callable[[], float] = time.time,
) -> CatchUp:
    """Store every event created in [since, until] that the inbox lacks, oldest first.

    Raises stripe-python's errors when Stripe cannot be read (nothing partial is lost: a
    rerun stores what is still missing)."""
    created: dict[str, int] = {"gte": int(since)}
    if until is not None:
        created["lte"] = int(until)
    page = stripe_client.v1.events.list({"created": created, "limit": 100})
    events = [event.to_dict() for event in page.auto_paging_iter()]
    events.sort(key=lambda e: (int(e.get("created") or 0), str(e.get("id"))))
    result = CatchUp(listed=len(events))
    for event in events:
        handled = event.get("type") in HANDLED_TYPES
        try:
            envelope = EventEnvelope.parse(event, strict=handled)
        except InvalidEvent:
            result.unreadable.append(str(event.get("id")))
            continue
        # stripe-python turns Stripe's decimal strings into Decimal: back to their text.
        body = json.dumps(event, default=str)
        if inbox.record(envelope, body, now=clock(), handled=handled):
            result.stored.append(envelope.event_id)
    return result
