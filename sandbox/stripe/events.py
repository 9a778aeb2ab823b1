"""Events: every state change becomes an ``event`` object, stored and handed to webhooks.

Events raised while a request (or one clock step) runs are held in a batch and published
together at its end, so webhook deliveries of one batch can be reordered as a whole.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import shapes
from .clock import Clock
from .ids import IdFactory
from .store import Store

Obj = dict[str, Any]

_MISSING = object()

# Stripe keeps events for 30 days; older ones leave GET /v1/events (and our memory).
EVENT_RETENTION = 30 * 86_400


def previous_attributes(before: Obj, after: Obj) -> Obj:
    """Old values of what changed, as Stripe's ``data.previous_attributes``.

    Nested plain objects show only their changed keys; lists and list objects show the
    whole old value; keys that did not exist before show null.
    """
    changed: Obj = {}
    for key in after.keys() | before.keys():
        old, new = before.get(key, _MISSING), after.get(key, _MISSING)
        if old == new:
            continue
        if old is _MISSING:
            changed[key] = None
        elif (
            isinstance(old, dict)
            and isinstance(new, dict)
            and old.get("object") != "list"
            and "id" not in old
        ):
            changed[key] = previous_attributes(old, new)
        else:
            changed[key] = shapes.clone(old)
    return changed


class EventBus:
    def __init__(
        self,
        store: Store,
        ids: IdFactory,
        clock: Clock,
        publish: Callable[[list[Obj]], None],
        count_endpoints: Callable[[str], int],
        retention: int | None = EVENT_RETENTION,
    ) -> None:
        self._store = store
        self._ids = ids
        self._clock = clock
        self._publish = publish
        self._count_endpoints = count_endpoints
        self._pending: list[Obj] = []
        self.retention = retention
        self.request: Obj = {"id": None, "idempotency_key": None}

    def mark(self) -> int:
        """A position in the current batch, to emit an event there later."""
        return len(self._pending)

    def emit(
        self,
        event_type: str,
        obj: Obj,
        previous: Obj | None = None,
        position: int | None = None,
    ) -> Obj:
        data: Obj = {"object": shapes.clone(obj)}
        if previous is not None:
            data["previous_attributes"] = previous
        event = shapes.new(
            "event",
            id=self._ids.new("evt"),
            created=self._clock.global_now(),
            data=data,
            type=event_type,
            pending_webhooks=self._count_endpoints(event_type),
            request=dict(self.request),
        )
        if position is None:
            self._pending.append(event)
        else:
            self._pending.insert(position, event)
        return event

    @contextmanager
    def updating(self, obj: Obj, event_type: str) -> Iterator[Obj]:
        """Emit ``event_type`` with ``previous_attributes`` if the block changed ``obj``."""
        before = shapes.clone(obj)
        yield obj
        changed = previous_attributes(before, obj)
        if changed:
            self.emit(event_type, obj, changed)

    def flush(self) -> list[Obj]:
        """Store the batch and hand it to the webhook dispatcher."""
        batch, self._pending = self._pending, []
        for event in batch:
            self._store.put(event)
        if batch and self.retention is not None:
            self._store.drop_oldest("event", self._clock.global_now() - self.retention)
            self._publish(batch)
        return batch

    def discard(self) -> None:
        self._pending = []
