"""alembic's entry point for the bridge store.

The bridge calls `connector.migrations.upgrade(conn)`, which passes its open connection in
`config.attributes["connection"]`. From the command line
(`alembic -c connector/migrations/alembic.ini upgrade head`, `... revision --autogenerate`)
the store named by BRIDGE_DATABASE_URL is opened here, under the same lock as at start-up.
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy.engine import Connection

from connector.migrations import VERSION_TABLE
from connector.store import Store, metadata


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


def run_from_command_line() -> None:
    if context.is_offline_mode():
        raise SystemExit("offline (SQL script) migrations are not supported")
    url = os.environ.get("BRIDGE_DATABASE_URL", "sqlite:///bridge.db")
    store = Store.from_url(url, migrate=False)
    try:
        with store.transaction() as conn:
            store.lock_for_migration(conn)
            run(conn)
    finally:
        store.dispose()


given = context.config.attributes.get("connection")
if given is not None:
    run(given)
else:
    run_from_command_line()
