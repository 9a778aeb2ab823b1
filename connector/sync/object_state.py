"""Per Stripe object: the event time and state last applied, the guard against stale events.

Handlers compare an event's `created` (and, for a tie within one second, a status rank)
with what was last applied to the same object, so an old event that arrives late never
overwrites newer data (the stripe-sync-engine timestamp guard, kept in our own store).
"""

from __future__ import annotations

import functools
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connector.store import Store, object_state


@dataclass(frozen=True)
class ObjectState:
    kind: str
    last_event_created: int
    state: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None


def is_newer(
    current: ObjectState | None, created: int, rank: int = 0, current_rank: int = 0
) -> bool:
    """Does an event at `created` (with status rank `rank`) supersede `current`?"""
    if current is None:
        return True
    if created != current.last_event_created:
        return created > current.last_event_created
    return rank >= current_rank


@functools.cache
def _upsert(postgres: bool) -> sa.Insert:
    """INSERT … ON CONFLICT (object_id) DO UPDATE, built once per dialect (SQLite 3.24+)."""
    insert = (pg_insert if postgres else sqlite_insert)(object_state)
    columns = ("kind", "last_event_created", "state_json", "parent_id", "updated_at")
    return insert.on_conflict_do_update(
        index_elements=[object_state.c.object_id],
        set_={name: insert.excluded[name] for name in columns},
    )


class ObjectStates:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, object_id: str) -> ObjectState | None:
        c = object_state.c
        with self.store.engine.connect() as conn:
            row = conn.execute(sa.select(object_state).where(c.object_id == object_id)).first()
        if row is None:
            return None
        return ObjectState(
            row.kind, int(row.last_event_created), json.loads(row.state_json), row.parent_id
        )

    def put(self, object_id: str, value: ObjectState) -> None:
        """Record `value` as what was last applied to `object_id` (one upsert, one commit)."""
        params = {
            "object_id": object_id,
            "kind": value.kind,
            "last_event_created": value.last_event_created,
            "state_json": json.dumps(value.state, sort_keys=True),
            "parent_id": value.parent_id,
            "updated_at": self.clock(),
        }
        with self.store.transaction() as conn:
            conn.execute(_upsert(self.store.is_postgres), params)

    def children(self, parent_id: str, kind: str) -> list[tuple[str, ObjectState]]:
        """Objects of `kind` under `parent_id` (the invoices of one subscription)."""
        c = object_state.c
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(object_state).where(c.parent_id == parent_id, c.kind == kind)
            ).all()
        return [
            (
                row.object_id,
                ObjectState(
                    row.kind, int(row.last_event_created), json.loads(row.state_json), row.parent_id
                ),
            )
            for row in rows
        ]
