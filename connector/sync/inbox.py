"""The durable webhook inbox: record events, claim them with a lease, settle them.

Ordering: events for one Stripe object are claimed in `created` order (ties by arrival), and
an event is not claimable while an earlier event of the same object is still pending or
processing. A claim on PostgreSQL uses `FOR UPDATE SKIP LOCKED`; on SQLite the claim runs
inside `BEGIN IMMEDIATE`, which serialises claimers.

Mutual exclusion (not ordering) per lock key, the Stripe customer: different objects of one
customer write the same Caspio rows, so a claim also takes a lease on the event's key
(`bridge_key_leases`) and skips events whose key another worker holds. The key is released
when the event settles, including a retry, so an event waiting for a later event of the same
customer never blocks it.
"""

from __future__ import annotations

import functools
import json
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from connector.store import Store, inbox_events, key_leases
from connector.sync.group_commit import GroupCommit

PENDING = "pending"
PROCESSING = "processing"
DONE = "done"
DEAD = "dead"
IGNORED = "ignored"
UNFINISHED = (PENDING, PROCESSING)

# Two-int advisory locks: a key space apart from the migration's one-bigint lock.
KEY_LOCK_SPACE = 7261904
CANDIDATES_PER_SLOT = 4


class InvalidEvent(ValueError):
    """The body is not a Stripe event the inbox can key."""


# The store keys events by strings in VARCHAR(255) columns (PostgreSQL refuses longer ones,
# SQLite would silently keep them) and `created` in a BIGINT.
MAX_KEY_LENGTH = 255
MAX_CREATED = 2**63 - 1
# Stripe's events nest about a dozen levels (event, data, object, lines, items, price…); the
# JSON decoder itself fails near 1000. Anything deeper is refused at the door, so that no
# later reader (the claim, a handler, json.dumps) can hit the recursion limit.
MAX_DEPTH = 64


def decode_event(body: bytes) -> tuple[Any, str]:
    """(parsed JSON, text) of a webhook body. Raises InvalidEvent for bad UTF-8, anything that
    is not strict JSON (NaN and Infinity included), integers past Python's digit limit, and
    nesting deeper than MAX_DEPTH."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidEvent("body is not JSON") from None
    try:
        event = json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise InvalidEvent("body is nested too deeply") from None
    except ValueError:  # JSONDecodeError, NaN/Infinity, an integer of over 4300 digits
        raise InvalidEvent("body is not JSON") from None
    if _deeper_than(event, MAX_DEPTH):
        raise InvalidEvent("body is nested too deeply")
    return event, text


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether containers nest more than `limit` levels (iterative: no recursion limit)."""
    if not isinstance(value, (dict, list)):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item
        if level > limit:
            return True
        stack.extend((c, level + 1) for c in children if isinstance(c, (dict, list)))
    return False


def _storable(value: str, what: str) -> str:
    """`value` if the store can key by it: at most 255 characters, no NUL, valid UTF-8."""
    if len(value) > MAX_KEY_LENGTH:
        raise InvalidEvent(f"{what} is longer than {MAX_KEY_LENGTH} characters")
    if "\x00" in value:
        raise InvalidEvent(f"{what} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidEvent(f"{what} is not valid Unicode") from None
    return value


@dataclass(frozen=True)
class EventEnvelope:
    """What the inbox needs from an event body; parsed once, at the door."""

    event_id: str
    type: str
    object_id: str
    object_type: str
    created: int
    lock_key: str = ""  # empty: the object id

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
        if not 0 <= stamp <= MAX_CREATED:
            raise InvalidEvent("event created is out of range")
        return cls(
            _storable(event_id, "event id"),
            _storable(event_type, "event type"),
            _storable(object_id, "data.object id"),
            _storable(object_type, "data.object object"),
            stamp,
            _storable(_lock_key(obj, object_id), "data.object customer"),
        )


def _lock_key(obj: dict[str, Any], object_id: str) -> str:
    """The customer the object belongs to (id or expanded object), else the object itself."""
    customer = obj.get("customer")
    if isinstance(customer, dict):
        customer = customer.get("id")
    return customer if isinstance(customer, str) and customer else object_id


def _read_payload(text: str) -> tuple[dict[str, Any], str | None]:
    """The stored body as a dict, or ({}, why not): one bad row must not fail a whole claim."""
    try:
        payload = json.loads(text)
    except (ValueError, RecursionError) as error:
        return {}, f"stored payload is not readable JSON: {type(error).__name__}"
    if not isinstance(payload, dict):
        return {}, "stored payload is not a JSON object"
    return payload, None


@dataclass(frozen=True)
class ClaimedEvent:
    event_id: str
    type: str
    object_id: str
    created: int
    attempts: int  # including this one
    payload: dict[str, Any]
    #: Why the stored payload could not be read back (then `payload` is empty): the worker
    #: parks such an event dead at once instead of letting it fail every claim.
    unreadable: str | None = None


# Statements the worker runs for every event, built once with bound parameters: building
# them per call (`.values(...)`, `==` on columns) cost more CPU than running them, and the
# claim and settle run inside the store's write transaction.
_KEY_FREE = sa.or_(
    key_leases.c.expires_at <= sa.bindparam("now"), key_leases.c.owner == sa.bindparam("owner")
)
_KEY_VALUES: dict[str, Any] = {
    "lock_key": sa.bindparam("key"),
    "owner": sa.bindparam("owner"),
    "expires_at": sa.bindparam("expires_at"),
}
_TRY_KEY_LOCK_PG = sa.select(
    sa.func.pg_try_advisory_xact_lock(KEY_LOCK_SPACE, sa.func.hashtext(sa.bindparam("key")))
)
_take_pg = pg_insert(key_leases).values(**_KEY_VALUES)
_TAKE_KEY_PG = _take_pg.on_conflict_do_update(
    index_elements=[key_leases.c.lock_key],
    set_={"owner": _take_pg.excluded.owner, "expires_at": _take_pg.excluded.expires_at},
    where=_KEY_FREE,
).returning(key_leases.c.lock_key)
_take_sqlite = sqlite_insert(key_leases).values(**_KEY_VALUES)
_TAKE_KEY_SQLITE = _take_sqlite.on_conflict_do_update(
    index_elements=[key_leases.c.lock_key],
    set_={"owner": _take_sqlite.excluded.owner, "expires_at": _take_sqlite.excluded.expires_at},
    where=_KEY_FREE,
)
_LEASE_EVENT = (
    inbox_events.update()
    .where(inbox_events.c.event_id == sa.bindparam("claimed_id"))
    .values(
        status=PROCESSING,
        lease_owner=sa.bindparam("owner"),
        lease_expires_at=sa.bindparam("expires_at"),
        attempts=sa.bindparam("claimed_attempts"),
    )
)


_EVENT_KEY = sa.select(
    sa.func.coalesce(inbox_events.c.lock_key, inbox_events.c.object_id)
).where(inbox_events.c.event_id == sa.bindparam("event_id"))
_KEY_LOCK_PG = sa.select(
    sa.func.pg_advisory_xact_lock(KEY_LOCK_SPACE, sa.func.hashtext(sa.bindparam("key")))
)
# The key's lease goes unless its owner still runs another event of the key.
_RELEASE_KEY = key_leases.delete().where(
    key_leases.c.lock_key == sa.bindparam("key"),
    key_leases.c.owner == sa.bindparam("owner"),
    ~sa.exists().where(
        sa.or_(
            inbox_events.c.lock_key == sa.bindparam("key"),
            sa.and_(
                inbox_events.c.lock_key.is_(None),
                inbox_events.c.object_id == sa.bindparam("key"),
            ),
        ),
        inbox_events.c.lease_owner == sa.bindparam("owner"),
        inbox_events.c.status == PROCESSING,
    ),
)
# Fenced on the lease owner: a worker whose lease was taken over settles nothing.
_COMPLETE = (
    inbox_events.update()
    .where(
        inbox_events.c.event_id == sa.bindparam("settled_id"),
        inbox_events.c.lease_owner == sa.bindparam("settling_owner"),
        inbox_events.c.status == PROCESSING,
    )
    .values(
        lease_owner=None,
        lease_expires_at=None,
        status=sa.bindparam("settled_status"),
        processed_at=sa.bindparam("settled_at"),
        last_error=None,
    )
)


@functools.cache
def _ready_events(status: str, postgres: bool) -> sa.Select[Any]:
    """Events of `status` ready to claim, oldest first: parameters `now`, `owner` and
    `candidates` (how many). Pending ones are due (`next_attempt_at`), processing ones have
    a dead lease. An event waits while an earlier event of its object is unfinished, and
    (only a pre-filter: `_take_key` decides) while another owner holds its key.

    One status per query, in `created` order: the (status, created, received_at, event_id)
    index yields the first candidates without sorting every waiting event (a backlog of
    20,000 made each claim sort them all)."""
    e = inbox_events
    earlier = inbox_events.alias("earlier")
    now = sa.bindparam("now", type_=sa.Float)
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
    # A row written by a process older than migration 2 has no key: its object is the key.
    lock_key = sa.func.coalesce(e.c.lock_key, e.c.object_id)
    key_held_elsewhere = sa.exists().where(
        key_leases.c.lock_key == lock_key,
        key_leases.c.expires_at > now,
        key_leases.c.owner != sa.bindparam("owner", type_=sa.String),
    )
    due = e.c.next_attempt_at <= now if status == PENDING else e.c.lease_expires_at <= now
    query = (
        sa.select(
            e.c.event_id,
            e.c.type,
            e.c.object_id,
            e.c.created,
            e.c.received_at,
            e.c.attempts,
            e.c.payload,
            lock_key.label("lock_key"),
        )
        .where(e.c.status == status, due, ~blocked_by_earlier, ~key_held_elsewhere)
        .order_by(e.c.created, e.c.received_at, e.c.event_id)
        .limit(sa.bindparam("candidates", type_=sa.Integer))
    )
    if postgres:
        query = query.with_for_update(skip_locked=True, of=e)
    return query


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
            "lock_key": envelope.lock_key or envelope.object_id,
            "received_at": now,
            "payload": raw_body,
            "status": PENDING if handled else IGNORED,
            "attempts": 0,
            "next_attempt_at": now,
        }
        # Requests arriving together share one durable commit (connector/sync/group_commit).
        return _group_commit(self.store).submit(row)

    def claim(
        self, owner: str, *, now: float, lease_seconds: float, limit: int
    ) -> list[ClaimedEvent]:
        """Lease up to `limit` ready events (pending and due, or processing with a dead lease)."""
        # More candidates than the batch: those of a customer another worker is taking right
        # now are skipped, and the batch fills with other customers.
        candidates = limit * CANDIDATES_PER_SLOT
        params = {"now": now, "owner": owner, "candidates": candidates}
        due_pending = _ready_events(PENDING, self.store.is_postgres)
        lease_expired = _ready_events(PROCESSING, self.store.is_postgres)
        claimed: list[ClaimedEvent] = []
        expires_at = now + lease_seconds
        with self.store.transaction() as conn:
            rows = [
                *conn.execute(due_pending, params).all(),
                *conn.execute(lease_expired, params).all(),
            ]
            rows.sort(key=lambda row: (row.created, row.received_at, row.event_id))
            keys: dict[str, bool] = {}  # lock key -> leased to this owner
            leases: list[dict[str, Any]] = []  # one per claimed event, written at once
            for row in rows[:candidates]:
                if len(claimed) == limit:
                    break
                if row.lock_key not in keys:
                    keys[row.lock_key] = self._take_key(
                        conn, row.lock_key, owner, now=now, expires_at=expires_at
                    )
                if not keys[row.lock_key]:
                    continue  # another worker runs this customer now; a later claim gets it
                leases.append({"claimed_id": row.event_id, "claimed_attempts": row.attempts + 1,
                               "owner": owner, "expires_at": expires_at})
                payload, unreadable = _read_payload(row.payload)
                claimed.append(
                    ClaimedEvent(
                        row.event_id,
                        row.type,
                        row.object_id,
                        int(row.created),
                        row.attempts + 1,
                        payload,
                        unreadable,
                    )
                )
            if leases:
                conn.execute(_LEASE_EVENT, leases)
        return claimed

    def _take_key(
        self, conn: sa.Connection, key: str, owner: str, *, now: float, expires_at: float
    ) -> bool:
        """Lease `key` to `owner` unless another owner holds it unexpired. On PostgreSQL two
        inserts of one key serialise on the primary key; on SQLite the writer lock does."""
        params = {"key": key, "owner": owner, "now": now, "expires_at": expires_at}
        if self.store.is_postgres:
            # Skip, never wait for, a key another transaction is taking or releasing: waiting
            # would leave this claim empty (the other one wins) and could deadlock two claims.
            # The upsert below still decides; this lock only keeps it from blocking (a hash
            # collision of two keys only makes one claim skip a key).
            if not conn.execute(_TRY_KEY_LOCK_PG, {"key": key}).scalar():
                return False
            return conn.execute(_TAKE_KEY_PG, params).first() is not None
        return bool(conn.execute(_TAKE_KEY_SQLITE, params).rowcount)

    def _release_key(self, conn: sa.Connection, event_id: str, owner: str) -> None:
        """Free the settled event's key, unless this owner still runs another event of it
        (claimed in the same batch): that one keeps the key until it settles."""
        key = conn.execute(_EVENT_KEY, {"event_id": event_id}).scalar()
        if key is None:
            return
        if self.store.is_postgres:
            # Claims only try this lock, never wait: waiting here for one cannot deadlock.
            conn.execute(_KEY_LOCK_PG, {"key": key})
        conn.execute(_RELEASE_KEY, {"key": key, "owner": owner})

    def renew(
        self, owner: str, event_ids: list[str], *, now: float, lease_seconds: float
    ) -> set[str]:
        """Extend `owner`'s leases on these events and on their keys to `now + lease_seconds`;
        returns the ids `owner` still holds (event leased to it and its key too). An event
        another worker has taken over, or whose key it has taken, is not returned: the
        caller must not run it."""
        if not event_ids:
            return set()
        e, kl = inbox_events, key_leases
        expires_at = now + lease_seconds
        lock_key = sa.func.coalesce(e.c.lock_key, e.c.object_id)
        mine = sa.and_(
            e.c.event_id.in_(event_ids), e.c.lease_owner == owner, e.c.status == PROCESSING
        )
        with self.store.transaction() as conn:
            conn.execute(e.update().where(mine).values(lease_expires_at=expires_at))
            rows = conn.execute(sa.select(e.c.event_id, lock_key.label("key")).where(mine)).all()
            keys = {row.key for row in rows}
            if not keys:
                return set()
            conn.execute(
                kl.update()
                .where(kl.c.lock_key.in_(keys), kl.c.owner == owner)
                .values(expires_at=expires_at)
            )
            held = set(
                conn.execute(
                    sa.select(kl.c.lock_key).where(kl.c.lock_key.in_(keys), kl.c.owner == owner)
                ).scalars()
            )
        return {row.event_id for row in rows if row.key in held}

    def _settle(self, event_id: str, owner: str, **values: Any) -> bool:
        # Fenced on the lease owner: a worker whose lease was taken over settles nothing.
        e = inbox_events
        fenced = sa.and_(e.c.event_id == event_id, e.c.lease_owner == owner,
                         e.c.status == PROCESSING)
        settle = e.update().where(fenced).values(lease_owner=None, lease_expires_at=None, **values)
        return self._settle_with(settle, {}, event_id, owner)

    def _settle_with(
        self, statement: sa.Update, params: dict[str, Any], event_id: str, owner: str
    ) -> bool:
        with self.store.transaction() as conn:
            settled = bool(conn.execute(statement, params).rowcount)
            if settled:
                # Every settle (done, retry, dead) frees the key, in the same transaction.
                self._release_key(conn, event_id, owner)
        return settled

    def complete(self, event_id: str, owner: str, *, now: float, status: str = DONE) -> bool:
        """Settle a processed event as `status` (done or ignored); False when `owner` no
        longer holds its lease (nothing changes)."""
        params = {"settled_id": event_id, "settling_owner": owner, "settled_status": status,
                  "settled_at": now}
        return self._settle_with(_COMPLETE, params, event_id, owner)

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


_GROUPS: weakref.WeakKeyDictionary[Store, GroupCommit[dict[str, Any], bool]] = (
    weakref.WeakKeyDictionary()
)
_GROUPS_LOCK = threading.Lock()


def _group_commit(store: Store) -> GroupCommit[dict[str, Any], bool]:
    """One group committer per open store (so per process: the web threads share it)."""
    with _GROUPS_LOCK:
        group = _GROUPS.get(store)
        if group is None:
            group = _GROUPS[store] = GroupCommit(lambda rows: _insert_rows(store, rows))
        return group


# Built once: a statement without bound values is compiled once and reused from SQLAlchemy's
# cache for every batch (building `.values(**row)` per row re-derived its cache key each time,
# the largest single cost of a webhook request).
_INSERT_NEW_PG = (
    pg_insert(inbox_events)
    .on_conflict_do_nothing(index_elements=[inbox_events.c.event_id])
    .returning(inbox_events.c.event_id)
)
_INSERT_NEW_SQLITE = sqlite_insert(inbox_events).on_conflict_do_nothing(
    index_elements=[inbox_events.c.event_id]
)
_STORED_IDS = sa.select(inbox_events.c.event_id).where(
    inbox_events.c.event_id.in_(sa.bindparam("ids", expanding=True))
)


def _insert_rows(store: Store, rows: Sequence[dict[str, Any]]) -> list[bool]:
    """Insert inbox rows in one transaction and one statement; True for each row stored,
    False for an event id already stored or earlier in `rows` (a duplicate delivery, even
    two racing ones, inserts nothing)."""
    first_of_id: dict[str, int] = {}
    for index, row in enumerate(rows):
        first_of_id.setdefault(row["event_id"], index)
    fresh = [rows[index] for index in first_of_id.values()]
    with store.transaction() as conn:
        if store.is_postgres:
            # RETURNING names exactly the rows inserted, whatever other processes committed
            # meanwhile (psycopg's rowcount is not reliable for this).
            inserted = set(conn.execute(_INSERT_NEW_PG, fresh).scalars())
        else:
            # BEGIN IMMEDIATE holds SQLite's write lock for the whole transaction, so the ids
            # read here cannot change before the insert (and RETURNING needs SQLite 3.35+).
            ids = list(first_of_id)
            present = set(conn.execute(_STORED_IDS, {"ids": ids}).scalars())
            inserted = {event_id for event_id in ids if event_id not in present}
            new_rows = [row for row in fresh if row["event_id"] in inserted]
            if new_rows:
                conn.execute(_INSERT_NEW_SQLITE, new_rows)
    return [
        first_of_id[row["event_id"]] == index and row["event_id"] in inserted
        for index, row in enumerate(rows)
    ]
