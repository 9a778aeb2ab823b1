"""The durable webhook inbox: record events, claim them with a lease, settle them.

Ordering: events for one Stripe object are claimed in `created` order (ties by arrival), and
an event is not claimable while an earlier event of the same object is still pending or
processing. A claim on PostgreSQL uses `FOR UPDATE SKIP LOCKED`; on SQLite the claim runs
inside `BEGIN IMMEDIATE`, which serialises claimers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connector.store import Store, inbox_events

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
DEAD = "dead"
IGNORED = "ignored"
UNFINISHED = (PENDING, PROCESSING)


class InvalidEvent(ValueError):
    """The body is not a Stripe event the inbox can key."""


@dataclass(frozen=True)
class EventEnvelope:
    """What the inbox needs from an event body; parsed once, at the door."""

    event_id: str
    type: str
    object_id: str
    object_type: str
    created: int

    @classmethod
    def parse(cls, event: Any, *, strict: bool = True) -> EventEnvelope:
        """`strict`: the full v1 event shape is required (types the bridge handles). Other
        types need only an id and a type, so that any event Stripe may send (a v2 thin
        notification, a future shape) is stored and acknowledged, never refused."""
        if not isinstance(event, dict):
            raise InvalidEvent("event is not a JSON object")
        event_id, event_type, created = event.get("id"), event.get("type"), event.get("created")
        data = event.get("data")
        obj = data.get("object") if isinstance(data, dict) else None
        if not isinstance(event_id, str) or not event_id.startswith("evt_"):
            raise InvalidEvent("missing event id")
        if not isinstance(event_type, str) or not event_type:
            raise InvalidEvent("missing event type")
        has_created = isinstance(created, int) and not isinstance(created, bool)
        if strict and not has_created:
            raise InvalidEvent("missing event created")
        if strict and not isinstance(obj, dict):
            raise InvalidEvent("missing data.object")
        obj = obj if isinstance(obj, dict) else {}
        # invoice.upcoming carries an invoice without an id; key it by the event instead.
        raw_id, raw_type = obj.get("id"), obj.get("object")
        object_id = raw_id if isinstance(raw_id, str) and raw_id else event_id
        object_type = raw_type if isinstance(raw_type, str) else "unknown"
        stamp = created if isinstance(created, int) and not isinstance(created, bool) else 0
        return cls(event_id, event_type, object_id, object_type, stamp)


@dataclass(frozen=True)
class ClaimedEvent:
    event_id: str
    type: str
    object_id: str
    created: int
    attempts: int  # including this one
    payload: dict[str, Any]


class Inbox:
    def __init__(self, store: Store) -> None:
        self.store = store

    def record(self, envelope: EventEnvelope, raw_body: str, *, now: float, handled: bool) -> bool:
        """Commit an event; False when its id is already stored (a duplicate delivery)."""
        row = {
            "event_id": envelope.event_id,
            "type": envelope.type,
            "object_id": envelope.object_id,
            "object_type": envelope.object_type,
            "created": envelope.created,
            "received_at": now,
            "payload": raw_body,
            "status": PENDING if handled else IGNORED,
            "attempts": 0,
            "next_attempt_at": now,
        }
        # One statement: a duplicate delivery (even two racing ones) inserts nothing.
        with self.store.transaction() as conn:
            if self.store.is_postgres:
                # psycopg's rowcount is not reliable here; RETURNING says what was inserted.
                statement = (
                    pg_insert(inbox_events)
                    .values(**row)
                    .on_conflict_do_nothing(index_elements=[inbox_events.c.event_id])
                    .returning(inbox_events.c.event_id)
                )
                return conn.execute(statement).first() is not None
            # rowcount works on SQLite, and avoids RETURNING (SQLite 3.35+ only).
            ignore = sqlite_insert(inbox_events).values(**row).on_conflict_do_nothing(
                index_elements=[inbox_events.c.event_id]
            )
            return bool(conn.execute(ignore).rowcount)

    def claim(
        self, owner: str, *, now: float, lease_seconds: float, limit: int
    ) -> list[ClaimedEvent]:
        """Lease up to `limit` ready events (pending and due, or processing with a dead lease)."""
        e = inbox_events
        earlier = inbox_events.alias("earlier")
        ready = sa.or_(
            sa.and_(e.c.status == PENDING, e.c.next_attempt_at <= now),
            sa.and_(e.c.status == PROCESSING, e.c.lease_expires_at <= now),
        )
        blocked_by_earlier = sa.exists().where(
            earlier.c.object_id == e.c.object_id,
            earlier.c.event_id != e.c.event_id,
            earlier.c.status.in_(UNFINISHED),
            sa.or_(
                earlier.c.created < e.c.created,
                sa.and_(
                    earlier.c.created == e.c.created,
                    sa.or_(
                        earlier.c.received_at < e.c.received_at,
                        sa.and_(
                            earlier.c.received_at == e.c.received_at,
                            earlier.c.event_id < e.c.event_id,
                        ),
                    ),
                ),
            ),
        )
        query = (
            sa.select(e.c.event_id, e.c.type, e.c.object_id, e.c.created, e.c.attempts, e.c.payload)
            .where(ready, ~blocked_by_earlier)
            .order_by(e.c.created, e.c.received_at, e.c.event_id)
            .limit(limit)
        )
        if self.store.is_postgres:
            query = query.with_for_update(skip_locked=True, of=e)
        claimed: list[ClaimedEvent] = []
        with self.store.transaction() as conn:
            rows = conn.execute(query).all()
            for row in rows:
                conn.execute(
                    e.update()
                    .where(e.c.event_id == row.event_id)
                    .values(
                        status=PROCESSING,
                        lease_owner=owner,
                        lease_expires_at=now + lease_seconds,
                        attempts=row.attempts + 1,
                    )
                )
                claimed.append(
                    ClaimedEvent(
                        row.event_id,
                        row.type,
                        row.object_id,
                        int(row.created),
                        row.attempts + 1,
                        json.loads(row.payload),
                    )
                )
        return claimed

    def _settle(self, event_id: str, owner: str, **values: Any) -> bool:
        # Fenced on the lease owner: a worker whose lease was taken over settles nothing.
        e = inbox_events
        with self.store.transaction() as conn:
            result = conn.execute(
                e.update()
                .where(e.c.event_id == event_id, e.c.lease_owner == owner, e.c.status == PROCESSING)
                .values(lease_owner=None, lease_expires_at=None, **values)
            )
        return bool(result.rowcount)

    def complete(self, event_id: str, owner: str, *, now: float, status: str = DONE) -> bool:
        return self._settle(event_id, owner, status=status, processed_at=now, last_error=None)

    def retry_later(
        self, event_id: str, owner: str, *, at: float, error: str, traceback_text: str
    ) -> bool:
        return self._settle(
            event_id,
            owner,
            status=PENDING,
            next_attempt_at=at,
            last_error=error,
            last_traceback=traceback_text,
        )

    def kill(
        self, event_id: str, owner: str, *, now: float, error: str, traceback_text: str
    ) -> bool:
        return self._settle(
            event_id,
            owner,
            status=DEAD,
            processed_at=now,
            last_error=error,
            last_traceback=traceback_text,
        )

    def requeue(self, event_ids: list[str] | None = None, *, now: float, status: str = DEAD) -> int:
        """Put dead (or given) events back to pending with a fresh attempt budget (replay)."""
        e = inbox_events
        condition = e.c.status == status
        if event_ids:
            condition = sa.and_(e.c.event_id.in_(event_ids), e.c.status != PROCESSING)
        with self.store.transaction() as conn:
            result = conn.execute(
                e.update()
                .where(condition)
                .values(status=PENDING, attempts=0, next_attempt_at=now, lease_owner=None)
            )
        return int(result.rowcount)

    def prune(self, *, received_before: float) -> int:
        """Delete settled (done/ignored) events received before the cut-off; dead ones stay
        until an operator replays them."""
        e = inbox_events
        with self.store.transaction() as conn:
            result = conn.execute(
                e.delete().where(e.c.status.in_((DONE, IGNORED)), e.c.received_at < received_before)
            )
        return int(result.rowcount)

    def counts(self) -> dict[tuple[str, str], int]:
        """(type, status) -> number of events."""
        e = inbox_events
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(e.c.type, e.c.status, sa.func.count()).group_by(e.c.type, e.c.status)
            ).all()
        return {(row[0], row[1]): int(row[2]) for row in rows}

    def get(self, event_id: str) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(inbox_events).where(inbox_events.c.event_id == event_id)
            ).first()
        return dict(row._mapping) if row else None

    def list(self, *, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        e = inbox_events
        query = sa.select(e).order_by(e.c.created, e.c.received_at).limit(limit)
        if status:
            query = query.where(e.c.status == status)
        with self.store.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]
