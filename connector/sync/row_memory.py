"""What the bridge last wrote to each Caspio row, kept in its own store.

It answers two questions without a Caspio call: does the row exist (insert directly, or
update), and would this write change anything (skip it). Keyed by logical table and key
value, so a renamed mapping does not lose it. The key is taken as Caspio compares it
(`caspio_key`: case and trailing spaces ignored), so two spellings Caspio treats as one row
share one memory. Merges happen under a row lock (PostgreSQL) or
the SQLite write lock, so two workers writing different fields of one row keep both.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import sqlalchemy as sa

from connector.store import Store, caspio_rows
from connector.sync.caspio_keys import caspio_key
from connector.sync.caspio_values import WireValue


@dataclass(frozen=True)
class RememberedRow:
    values: dict[str, WireValue]
    known_to_exist: bool


class RowMemory:
    def __init__(self, store: Store, *, clock: Callable[[], float] = time.time) -> None:
        self.store = store
        self.clock = clock

    def get(self, table: str, key: str) -> RememberedRow | None:
        key = caspio_key(key)
        c = caspio_rows.c
        with self.store.engine.connect() as conn:
            row = conn.execute(
                sa.select(c.values_json, c.known_to_exist).where(
                    c.table_name == table, c.row_key == key
                )
            ).first()
        if row is None:
            return None
        return RememberedRow(json.loads(row.values_json), bool(row.known_to_exist))

    def remember(self, table: str, key: str, written: Mapping[str, WireValue]) -> None:
        """Merge `written` into the row's memory and mark the row as existing."""
        key = caspio_key(key)
        c = caspio_rows.c
        query = sa.select(c.values_json).where(c.table_name == table, c.row_key == key)
        if self.store.is_postgres:
            query = query.with_for_update()
        with self.store.transaction() as conn:
            current = conn.execute(query).first()
            merged = json.loads(current.values_json) if current else {}
            merged.update(written)
            text = json.dumps(merged, sort_keys=True)
            if current is None:
                try:
                    with conn.begin_nested():
                        conn.execute(
                            caspio_rows.insert().values(
                                table_name=table,
                                row_key=key,
                                values_json=text,
                                known_to_exist=True,
                                updated_at=self.clock(),
                            )
                        )
                    return
                except sa.exc.IntegrityError:
                    # Another worker remembered the row first; merge into its memory.
                    current = conn.execute(query).first()
                    merged = json.loads(current.values_json) if current else {}
                    merged.update(written)
                    text = json.dumps(merged, sort_keys=True)
            conn.execute(
                caspio_rows.update()
                .where(c.table_name == table, c.row_key == key)
                .values(values_json=text, known_to_exist=True, updated_at=self.clock())
            )

    def replace(self, table: str, key: str, values: Mapping[str, WireValue]) -> None:
        """Set the row's memory to exactly `values` (reconcile: what Caspio holds now)."""
        key = caspio_key(key)
        c = caspio_rows.c
        text = json.dumps(dict(values), sort_keys=True)
        with self.store.transaction() as conn:
            updated = conn.execute(
                caspio_rows.update()
                .where(c.table_name == table, c.row_key == key)
                .values(values_json=text, known_to_exist=True, updated_at=self.clock())
            ).rowcount
            if not updated:
                conn.execute(
                    caspio_rows.insert().values(
                        table_name=table,
                        row_key=key,
                        values_json=text,
                        known_to_exist=True,
                        updated_at=self.clock(),
                    )
                )

    def forget(self, table: str, key: str) -> None:
        """The row is gone from Caspio (an update matched nothing)."""
        key = caspio_key(key)
        c = caspio_rows.c
        with self.store.transaction() as conn:
            conn.execute(caspio_rows.delete().where(c.table_name == table, c.row_key == key))
