"""SQLite: writes hold the database's write lock from BEGIN (BEGIN IMMEDIATE), reads do not
queue for it. Before, every `engine.connect()` read also began IMMEDIATE, so the worker's
many small reads (key cache, object state, retry links) waited behind each write."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from connector.store import Store, create_store_engine, inbox_events


def _row(event_id: str) -> dict[str, object]:
    return {"event_id": event_id, "type": "invoice.paid", "object_id": "in_1",
            "object_type": "invoice", "created": 1, "lock_key": "cus_1", "received_at": 1.0,
            "payload": "{}", "status": "pending", "attempts": 0, "next_attempt_at": 1.0}


@pytest.fixture
def two_stores(tmp_path):
    """Two stores on one SQLite file (two processes), the second one impatient: a lock it
    cannot take at once fails instead of waiting."""
    url = f"sqlite:///{tmp_path / 'bridge.db'}"
    writer = Store.from_url(url)
    other = Store(create_store_engine(url, busy_timeout_seconds=0.0))
    yield writer, other
    other.dispose()
    writer.dispose()


def test_a_read_does_not_wait_for_an_open_write_transaction(two_stores):
    writer, other = two_stores
    with writer.transaction() as conn:
        conn.execute(inbox_events.insert().values(**_row("evt_uncommitted")))
        # The write lock is held: a read beside it sees the last committed state.
        with other.engine.connect() as reader:
            count = reader.execute(sa.select(sa.func.count()).select_from(inbox_events))
            assert count.scalar_one() == 0


def test_a_second_writer_does_queue_for_the_write_lock(two_stores):
    writer, other = two_stores
    with (
        writer.transaction(),
        pytest.raises(sa.exc.OperationalError, match="locked"),
        other.transaction(),
    ):
        pass
