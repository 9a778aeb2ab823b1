"""PostgreSQL connections spend few round trips (issue 18: the worker's many small reads each
cost BEGIN, SELECT, ROLLBACK and a pre-ping): reads are autocommit, writes go through
Store.transaction as real transactions, and a connection PostgreSQL dropped costs one failed
use, not a stream of them."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connector.store import Store, inbox_events

pytestmark = pytest.mark.postgres


def _row(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "type": "invoice.paid", "object_id": "in_1",
            "object_type": "invoice", "created": 1, "lock_key": "cus_1", "received_at": 1.0,
            "payload": "{}", "status": "pending", "attempts": 0, "next_attempt_at": 1.0}


@pytest.fixture
def pg_store(postgres_store_url):
    store = Store.from_url(postgres_store_url)
    yield store
    store.dispose()


def test_a_read_sends_only_its_query(pg_store):
    sent: list[str] = []
    sa.event.listen(pg_store.engine, "before_cursor_execute",
                    lambda conn, cursor, statement, *rest: sent.append(statement))
    with pg_store.engine.connect() as conn:
        conn.execute(sa.select(sa.func.count()).select_from(inbox_events)).scalar_one()
        # No transaction was opened for it (psycopg would otherwise send BEGIN first).
        assert conn.exec_driver_sql("SELECT txid_current_if_assigned()").scalar() is None
        assert conn.connection.dbapi_connection.info.transaction_status == 0  # IDLE
    assert len(sent) == 2


def test_a_write_transaction_is_atomic(pg_store):
    with pytest.raises(RuntimeError), pg_store.transaction() as conn:
        conn.execute(inbox_events.insert().values(**_row("evt_rolled_back")))
        raise RuntimeError("the block fails after its insert")
    with pg_store.transaction() as conn:
        conn.execute(inbox_events.insert().values(**_row("evt_kept")))
    with pg_store.engine.connect() as conn:
        ids = conn.execute(sa.select(inbox_events.c.event_id)).scalars().all()
    assert ids == ["evt_kept"]


def test_a_dropped_connection_fails_one_use_and_the_pool_recovers(pg_store):
    """No pre-ping: when PostgreSQL drops the pooled connections (a restart), the next use
    fails once, SQLAlchemy discards what was pooled before it, and the use after works."""
    with pg_store.engine.connect() as conn:
        pid = conn.exec_driver_sql("SELECT pg_backend_pid()").scalar()
    killer = sa.create_engine(pg_store.engine.url)
    try:
        with killer.connect() as admin:
            assert admin.exec_driver_sql(f"SELECT pg_terminate_backend({int(pid)})").scalar()
    finally:
        killer.dispose()
    with pytest.raises(sa.exc.OperationalError), pg_store.transaction() as conn:
        conn.execute(inbox_events.insert().values(**_row("evt_lost_connection")))
    with pg_store.transaction() as conn:
        conn.execute(inbox_events.insert().values(**_row("evt_after")))
    with pg_store.engine.connect() as conn:
        ids = conn.execute(sa.select(inbox_events.c.event_id)).scalars().all()
    assert ids == ["evt_after"]
