"""Event type -> handler, and the worker's `dispatch(event)`.

`HANDLED_TYPES` is what the webhook endpoint stores as `pending`; every other type is stored
as `ignored` and acknowledged (an unknown type must never be answered with an error).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from connector.metrics import ignore_reason_of
from connector.sync.context import SyncContext
from connector.sync.event_versions import pinned_event
from connector.sync.handlers import charges, checkout, disputes, invoices, payouts, subscriptions
from connector.sync.inbox import DONE, IGNORED

Handler = Callable[[SyncContext, dict[str, Any]], str]

HANDLERS: dict[str, Handler] = {}
for _module in (invoices, subscriptions, checkout, charges, disputes, payouts):
    for _type in _module.EVENT_TYPES:
        HANDLERS[_type] = _module.handle

HANDLED_TYPES = frozenset(HANDLERS)


class EventDispatcher:
    def __init__(self, ctx: SyncContext) -> None:
        self.ctx = ctx
        self._lock = threading.Lock()
        self.outcomes: Counter[tuple[str, str]] = Counter()  # (type, outcome) -> events

    def dispatch(self, event: dict[str, Any]) -> str:
        event_type = str(event.get("type"))
        handler = HANDLERS.get(event_type)
        if handler is None:
            outcome = IGNORED
            self.ctx.metrics.ignored(event_type, "unhandled_type")
        else:
            with ignore_reason_of() as reason:
                # Another API version's payload is never read as ours (issue 10 fault 3).
                outcome = handler(self.ctx, pinned_event(self.ctx, event)) or DONE
            if outcome == IGNORED:
                self.ctx.metrics.ignored(event_type, reason.value or "not_applicable")
        with self._lock:
            self.outcomes[(event_type, outcome)] += 1
        return outcome
