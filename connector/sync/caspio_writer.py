"""Keyed, remembered writes to Caspio: the only place the sync path writes Caspio rows.

- `upsert` (bridge-owned rows: payments, payouts, disputes): insert straight away when the
  bridge has never written the row; on `CaspioAlreadyExists` (our own earlier insert whose
  memory was lost, or a retried insert) fall back to an update. No read-before-write.
- `update` (rows the Caspio app creates: subscriptions, customers): update by key; a row
  that matches nothing raises `MissingCaspioRow` so the event is retried, then dead-lettered.
- Both send only the fields that differ from what the bridge last wrote, and nothing at all
  when nothing differs. `UpdatedAt` rides along with real changes only.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from typing import Any, Protocol

from caspio_client import where as w
from caspio_client.errors import CaspioAlreadyExists
from connector.errors import BridgeError
from connector.sync.caspio_values import WireValue, from_unix, to_wire, wire_row
from connector.sync.row_memory import RowMemory

INSERTED, UPDATED, SKIPPED = "inserted", "updated", "skipped"
UPDATED_AT = "UpdatedAt"


class CaspioTables(Protocol):
    """The part of `caspio_client.CaspioClient` the writer uses."""

    def select(
        self,
        table: str,
        where: w.Where | None = ...,
        fields: Sequence[str] | None = ...,
        order_by: str = ...,
        page_size: int = ...,
    ) -> Iterator[dict[str, Any]]: ...
    def get_one(self, table: str, where: w.Where) -> dict[str, Any] | None: ...
    def insert(self, table: str, values: Mapping[str, Any]) -> dict[str, Any]: ...
    def update(self, table: str, where: w.Where, values: Mapping[str, Any]) -> int: ...


class MissingCaspioRow(BridgeError, LookupError):
    """An update by key matched no row: the Caspio app has not created it (yet), so a later
    attempt may find it."""

    default_retryable = True


class IdentityMapping:
    """Logical names are the Caspio names (no BRIDGE_MAPPING); for tests and defaults."""

    def table(self, logical_table: str) -> str:
        return logical_table

    def field(self, logical_table: str, logical_field: str) -> str:
        return logical_field

    def to_caspio(self, logical_table: str, values: Mapping[str, Any]) -> dict[str, Any]:
        return dict(values)

    def from_caspio(self, logical_table: str, row: Mapping[str, Any]) -> dict[str, Any]:
        return dict(row)


class CaspioWriter:
    def __init__(
        self,
        client: CaspioTables,
        memory: RowMemory,
        mapping: Any = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.memory = memory
        self.mapping = mapping or IdentityMapping()
        self.clock = clock
        self.skipped = 0

    def _changes(
        self, table: str, key: str, values: Mapping[str, Any]
    ) -> tuple[dict[str, WireValue], bool]:
        wanted = wire_row({k: v for k, v in values.items() if k != UPDATED_AT})
        remembered = self.memory.get(table, key)
        if remembered is None or not remembered.known_to_exist:
            return wanted, False
        changed = {k: v for k, v in wanted.items() if remembered.values.get(k, _ABSENT) != v}
        return changed, True

    def _stamp(self) -> WireValue:
        return to_wire(from_unix(int(self.clock())) or dt.datetime.now(dt.timezone.utc))

    def _where(self, table: str, key_field: str, key: str) -> w.Where:
        return w.eq(self.mapping.field(table, key_field), key)

    def _caspio(self, table: str, values: Mapping[str, WireValue]) -> dict[str, Any]:
        return self.mapping.to_caspio(table, values)

    def upsert(self, table: str, key_field: str, key: str, values: Mapping[str, Any]) -> str:
        changes, exists = self._changes(table, key, values)
        if exists and not changes:
            self.skipped += 1
            return SKIPPED
        caspio_table = self.mapping.table(table)
        body = {**changes, UPDATED_AT: self._stamp()}
        if exists:
            if self.client.update(
                caspio_table, self._where(table, key_field, key), self._caspio(table, body)
            ):
                self.memory.remember(table, key, changes)
                return UPDATED
            self.memory.forget(table, key)  # deleted in Caspio: write it again in full
            changes = wire_row({k: v for k, v in values.items() if k != UPDATED_AT})
            body = {**changes, UPDATED_AT: self._stamp()}
        try:
            self.client.insert(caspio_table, self._caspio(table, {key_field: key, **body}))
            result = INSERTED
        except CaspioAlreadyExists:
            self.client.update(
                caspio_table, self._where(table, key_field, key), self._caspio(table, body)
            )
            result = UPDATED
        self.memory.remember(table, key, {key_field: key, **changes})
        return result

    def update(self, table: str, key_field: str, key: str, values: Mapping[str, Any]) -> str:
        changes, _exists = self._changes(table, key, values)
        if not changes:
            self.skipped += 1
            return SKIPPED
        body = {**changes, UPDATED_AT: self._stamp()}
        affected = self.client.update(
            self.mapping.table(table), self._where(table, key_field, key), self._caspio(table, body)
        )
        if not affected:
            self.memory.forget(table, key)
            raise MissingCaspioRow(f"{table} has no row with {key_field} = {key!r}")
        self.memory.remember(table, key, changes)
        return UPDATED

    def create(
        self,
        table: str,
        key_field: str,
        key: str,
        values: Mapping[str, Any],
        *,
        when_exists: Collection[str],
    ) -> str:
        """Insert a row the Caspio app has not created (a customer first seen at sign-up).

        When the row exists after all (the app made it, or a concurrent request won the
        race on the unique key), only the `when_exists` fields are written to it, so the
        app's own values (Email, Name) are never overwritten."""
        wanted = wire_row({k: v for k, v in values.items() if k != UPDATED_AT})
        try:
            self.client.insert(
                self.mapping.table(table),
                self._caspio(table, {key_field: key, **wanted, UPDATED_AT: self._stamp()}),
            )
        except CaspioAlreadyExists:
            return self.update(
                table, key_field, key, {k: v for k, v in values.items() if k in when_exists}
            )
        self.memory.remember(table, key, {key_field: key, **wanted})
        return INSERTED

    def update_if(
        self, table: str, key_field: str, key: str, values: Mapping[str, Any], condition: w.Where
    ) -> bool:
        """`update`, but only while the row still meets `condition` (Caspio field names),
        checked by Caspio in the same call: a row the app or another writer moved on
        meanwhile is left as it is. True when the row was written (or already held them)."""
        changes, _exists = self._changes(table, key, values)
        if not changes:
            self.skipped += 1
            return True
        body = {**changes, UPDATED_AT: self._stamp()}
        where = w.and_(self._where(table, key_field, key), condition)
        if not self.client.update(self.mapping.table(table), where, self._caspio(table, body)):
            return False
        self.memory.remember(table, key, changes)
        return True

    def observe(self, table: str, key: str, values: Mapping[str, Any]) -> None:
        """Record values just read from Caspio for fields the app also writes (Status,
        RequestedAction), so that the next write of the bridge's own value is not skipped
        as a repeat of what it wrote before."""
        self.memory.remember(table, key, wire_row(values))

    def find_one(self, table: str, field: str, value: str) -> dict[str, Any] | None:
        """One row by a field value, in logical names (a counted read; callers cache it)."""
        row = self.client.get_one(
            self.mapping.table(table), w.eq(self.mapping.field(table, field), value)
        )
        return None if row is None else self.mapping.from_caspio(table, row)


class _Absent:
    def __repr__(self) -> str:
        return "<absent>"


_ABSENT: Any = _Absent()
