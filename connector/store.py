"""The bridge's own tables (SQLAlchemy Core): webhook inbox, Caspio write memory, key cache,
admin jobs.

SQLite is the default (one process, WAL, durable commits); PostgreSQL when several bridge
processes share one store. The tables are declared here; their schema changes are alembic
revisions in `connector/migrations/versions/`, applied by `Store.migrate` when a store is
opened (docs/contracts.md says how to add a table).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from connector import migrations

metadata = sa.MetaData()

# One row per Stripe event id: the durable inbox the webhook writes and the worker drains.
inbox_events = sa.Table(
    "bridge_inbox_events",
    metadata,
    sa.Column("event_id", sa.String(255), primary_key=True),
    sa.Column("type", sa.String(255), nullable=False),
    sa.Column("object_id", sa.String(255), nullable=False),
    sa.Column("object_type", sa.String(255), nullable=False),
    sa.Column("created", sa.BigInteger, nullable=False),  # Stripe's event.created
    sa.Column("received_at", sa.Float, nullable=False),
    sa.Column("payload", sa.Text, nullable=False),
    # pending | processing | done | dead | ignored
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_owner", sa.String(255)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("processed_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Column("last_traceback", sa.Text),
    # The Stripe customer (else the object) the event writes for: events sharing a key never
    # run at once (revision 0002). Nullable: rows written before it are filled by the revision.
    sa.Column("lock_key", sa.String(255)),
)
sa.Index(
    "ix_bridge_inbox_object",
    inbox_events.c.object_id,
    inbox_events.c.created,
    inbox_events.c.received_at,
)

sa.Index("ix_bridge_inbox_lock_key", inbox_events.c.lock_key)
# The claim reads the oldest ready events of one status in this order (revision 0007, which
# dropped the (status, next_attempt_at) index: without statistics SQLite's planner chose it
# and then sorted every waiting event).
sa.Index(
    "ix_bridge_inbox_ready",
    inbox_events.c.status,
    inbox_events.c.created,
    inbox_events.c.received_at,
    inbox_events.c.event_id,
)

# Which worker may currently run events of a lock key (a customer); taken with the claim,
# released when the event settles, or taken over once expired (a dead worker).
key_leases = sa.Table(
    "bridge_key_leases",
    metadata,
    sa.Column("lock_key", sa.String(255), primary_key=True),
    sa.Column("owner", sa.String(255), nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
)

# What the bridge last wrote to each Caspio row (logical table + key value): lets a write
# skip the read-before-write and skip writes that change nothing.
caspio_rows = sa.Table(
    "bridge_caspio_rows",
    metadata,
    sa.Column("table_name", sa.String(64), primary_key=True),
    sa.Column("row_key", sa.String(255), primary_key=True),
    sa.Column("values_json", sa.Text, nullable=False),
    sa.Column("known_to_exist", sa.Boolean, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# The bridge's record of each subscription's value, the only input to the totals.
subscriptions = sa.Table(
    "bridge_subscriptions",
    metadata,
    sa.Column("subscription_id", sa.String(255), primary_key=True),
    sa.Column("subscription_key", sa.String(255)),
    sa.Column("customer_key", sa.String(255)),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("amount_minor", sa.BigInteger, nullable=False),
    sa.Column("currency", sa.String(8), nullable=False),
    sa.Column("interval", sa.String(8), nullable=False),
    sa.Column("interval_count", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_bridge_subscriptions_customer", subscriptions.c.customer_key)

# Per Stripe object: the last applied event time and state the handlers compare against
# (invoice status precedence, pay-plan payments), so a stale event never wins.
object_state = sa.Table(
    "bridge_object_state",
    metadata,
    sa.Column("object_id", sa.String(255), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("last_event_created", sa.BigInteger, nullable=False),
    sa.Column("state_json", sa.Text, nullable=False),
    sa.Column("parent_id", sa.String(255)),  # e.g. an invoice's subscription
    sa.Column("updated_at", sa.Float, nullable=False),
)
sa.Index("ix_bridge_object_state_parent", object_state.c.parent_id)

# Caspio / Stripe lookups remembered: (kind, Stripe id or plan key) -> value.
key_cache = sa.Table(
    "bridge_key_cache",
    metadata,
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("lookup", sa.String(255), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

# Retry links for failed payments (connector.links): one row per issued link, the token kept
# only as its SHA-256 hash. state: available -> used (claimed by a POST) -> succeeded |
# failed; available -> replaced (a newer link) | closed (void, gone) | succeeded (paid).
retry_links = sa.Table(
    "bridge_retry_links",
    metadata,
    sa.Column("token_hash", sa.String(64), primary_key=True),
    sa.Column("invoice_id", sa.String(255), nullable=False),
    sa.Column("attempt", sa.Integer, nullable=False),  # the invoice's attempt_count
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float, nullable=False),
    sa.Column("used_at", sa.Float),
    sa.Column("reason", sa.Text),  # the decline shown on the confirmation page
)
sa.Index("ix_bridge_retry_links_invoice", retry_links.c.invoice_id)

# Fixed-window request counters of the Retry and portal links: (scope:window:key) -> count,
# shared by every bridge process on this store.
rate_limits = sa.Table(
    "bridge_rate_limits",
    metadata,
    sa.Column("bucket", sa.String(255), primary_key=True),
    sa.Column("window_start", sa.Float, nullable=False),
    sa.Column("count", sa.Integer, nullable=False),
)
sa.Index("ix_bridge_rate_limits_window", rate_limits.c.window_start)

# The admin API's background jobs (connector.web.jobs), shared by every web process: a job
# started through one process is polled through any other. `running_kind` is the job's kind
# while it runs and NULL once it has finished: its unique index lets one job of a kind run
# at a time across processes (NULLs never collide). The running process renews
# `heartbeat_at`; a running job whose heartbeat is too old counts as failed.
admin_jobs = sa.Table(
    "bridge_admin_jobs",
    metadata,
    sa.Column("job_id", sa.String(64), primary_key=True),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # running | succeeded | failed
    sa.Column("running_kind", sa.String(32)),
    sa.Column("owner", sa.String(255), nullable=False),  # host:pid of the running process
    sa.Column("started_at", sa.Float, nullable=False),  # Unix seconds, like every *_at
    sa.Column("heartbeat_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("result_json", sa.Text),
    sa.Column("error", sa.Text),
)
sa.Index("ux_bridge_admin_jobs_running_kind", admin_jobs.c.running_kind, unique=True)


def engine_url(url: str) -> str:
    """`postgresql://` and `postgres://` use the psycopg 3 driver."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


_SCRATCH_PREFIX = "caspio-stripe-scratch-"

# Execution option marking a connection opened by Store.transaction (SQLite: BEGIN IMMEDIATE).
WRITE_TRANSACTION = "caspio_stripe_write_transaction"

# pg_advisory_xact_lock key held while the schema is upgraded.
MIGRATION_LOCK_KEY = 7261903


def _scratch_file() -> str:
    import tempfile

    handle, path = tempfile.mkstemp(prefix=_SCRATCH_PREFIX, suffix=".db")
    os.close(handle)
    return path


def create_store_engine(url: str, *, busy_timeout_seconds: float = 30.0) -> Engine:
    url = engine_url(url)
    if not url.startswith("sqlite"):
        # Round trips are what a PostgreSQL store spends (the worker makes several small reads
        # and writes per event): reads (`engine.connect()`) run in autocommit, one round trip
        # each instead of BEGIN, SELECT, ROLLBACK; Store.transaction switches its connection
        # to a READ COMMITTED transaction (a client-side setting in psycopg, no round trip).
        # No pre-ping (a round trip per checkout): when PostgreSQL restarts, the first use of
        # a dead pooled connection fails, SQLAlchemy then discards every connection pooled
        # before it, and that one webhook answers 500 (Stripe delivers it again) or that one
        # event is retried by the worker.
        return sa.create_engine(url, future=True, isolation_level="AUTOCOMMIT")
    if url in ("sqlite://", "sqlite:///:memory:"):
        # An in-memory database is private to one connection, but the web threads and the
        # worker need one store: use a throw-away file instead (removed by `Store.dispose`).
        url = f"sqlite:///{_scratch_file()}"
    engine = sa.create_engine(url, connect_args={"check_same_thread": False})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed event survives power loss
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_seconds * 1000)}")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # A write transaction (Store.transaction) takes the write lock up front with
        # IMMEDIATE: claims and read-modify-writes are serial across threads and processes,
        # the SQLite stand-in for row locks. A read (engine.connect()) begins deferred: in WAL
        # mode it reads a snapshot beside the writer instead of queueing for its lock.
        write = conn.get_execution_options().get(WRITE_TRANSACTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")

    return engine


class Store:
    """The engine plus the few things every user of the store needs."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._file_identity = self._database_file_identity()

    def _database_file_identity(self) -> tuple[int, int] | None:
        """(st_dev, st_ino) of the SQLite database file, None for PostgreSQL or no file yet."""
        path = self.engine.url.database if self.engine.dialect.name == "sqlite" else None
        if not path or path == ":memory:":
            return None
        try:
            found = os.stat(path)
        except FileNotFoundError:
            return None
        return (found.st_dev, found.st_ino)

    def database_file_problem(self) -> str | None:
        """SQLite: why the file at the store's path is no longer the database it opened
        (deleted, or replaced by another file: writes would go to the unlinked file and be
        lost at restart), else None. Always None for PostgreSQL."""
        if self.engine.dialect.name != "sqlite":
            return None
        current = self._database_file_identity()
        if self._file_identity is None:
            self._file_identity = current  # first sight of the file (created on first use)
            return None
        if current is None:
            return "database file deleted"
        if current != self._file_identity:
            return "database file replaced"
        return None

    @classmethod
    def from_url(cls, url: str, *, migrate: bool = True) -> Store:
        """Open the store at `url` and, unless `migrate=False`, upgrade its schema to head."""
        store = cls(create_store_engine(url))
        if migrate:
            try:
                store.migrate()
            except BaseException:
                store.dispose()
                raise
        return store

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: committed when the block ends, rolled back if it raises. On
        SQLite it holds the database's write lock from its first statement (BEGIN IMMEDIATE);
        reads outside it use `engine.connect()` and never wait for that lock."""
        with self.engine.connect() as conn:
            conn.execution_options(**{WRITE_TRANSACTION: True})
            if self.is_postgres:
                conn.execution_options(isolation_level="READ COMMITTED")
            with conn.begin():
                yield conn

    def lock_for_migration(self, conn: Connection) -> None:
        """Serialise schema upgrades across processes until `conn`'s transaction ends.

        PostgreSQL: a transaction-level advisory lock (the key the pre-alembic code used, so
        old and new processes starting together also wait for each other). SQLite: the
        BEGIN IMMEDIATE of every transaction already holds the database's write lock.
        """
        if self.is_postgres:
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})")

    def migrate(self) -> str:
        """Upgrade the schema to the newest alembic revision; returns that revision id.

        Safe to call from several processes at once. Raises
        `connector.migrations.MigrationError` for a store this code cannot upgrade.
        """
        with self.transaction() as conn:
            self.lock_for_migration(conn)
            return migrations.upgrade(conn)

    def schema_revision(self) -> str | None:
        """The alembic revision the store is at (None before the first `migrate`)."""
        with self.engine.connect() as conn:
            return migrations.current_revision(conn)

    def dispose(self) -> None:
        self.engine.dispose()
        path = self.engine.url.database or ""
        if os.path.basename(path).startswith(_SCRATCH_PREFIX):
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.remove(path + suffix)
