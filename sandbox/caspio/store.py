"""Caspio tables kept in SQLite: one SQLite table per Caspio table plus two metadata tables.

One connection guarded by one lock: the emulator is a test double, so simple and
serialisable beats concurrent. Every statement uses bound parameters; identifiers come
only from validated names and are quoted (``schema.quote_identifier``).
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

from sandbox.caspio import collation, query_params, tsql
from sandbox.caspio.errors import (
    bad_body,
    field_not_found,
    object_exists,
    object_not_found,
    read_only,
    sql_error,
    unique_violation,
)
from sandbox.caspio.fieldtypes import format_datetime, from_storage, to_storage
from sandbox.caspio.schema import (
    PK_NAME,
    FieldDef,
    TableSchema,
    check_name,
    field_from_model,
    field_update,
    quote_identifier,
)
from sandbox.caspio.sqlite_compiler import SelectCompiler, WhereCompiler

Row = dict[str, Any]

_META_DDL = (
    """CREATE TABLE IF NOT EXISTS _caspio_tables (
        name_key TEXT PRIMARY KEY, name TEXT NOT NULL, sql_name TEXT NOT NULL,
        note TEXT NOT NULL DEFAULT '')""",
    """CREATE TABLE IF NOT EXISTS _caspio_fields (
        table_key TEXT NOT NULL, position INTEGER NOT NULL, name TEXT NOT NULL,
        type TEXT NOT NULL, is_unique INTEGER NOT NULL, unique_allow_nulls INTEGER NOT NULL,
        label TEXT NOT NULL, description TEXT NOT NULL, on_insert INTEGER NOT NULL,
        on_update INTEGER NOT NULL, time_zone TEXT NOT NULL, format TEXT NOT NULL,
        prefix TEXT NOT NULL, length INTEGER NOT NULL, is_formula INTEGER NOT NULL,
        next_value INTEGER NOT NULL DEFAULT 1,
        PRIMARY KEY (table_key, name))""",
)


@dataclass(frozen=True)
class SelectResult:
    rows: list[Row]
    total: int | None


@dataclass(frozen=True)
class UpdateResult:
    count: int
    rows: list[Row]  # the rows after the update
    before: list[Row]  # the same rows before it, in the same order
    written: frozenset[str]  # the field names the request set


class CaspioStore:
    def __init__(self, path: str = ":memory:",
                 now: Callable[[], dt.datetime] | None = None) -> None:
        self.path = path
        self.now = now or (lambda: dt.datetime.now(dt.timezone.utc).replace(tzinfo=None))
        self._lock = threading.RLock()
        self._connection = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        collation.register(self._connection)
        self._tables: dict[str, TableSchema] = {}
        with self._lock:
            for ddl in _META_DDL:
                self._connection.execute(ddl)
            self._load_schemas()

    # ------------------------------------------------------------ plumbing

    def close(self) -> None:
        with self._lock:
            self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._connection.execute("BEGIN IMMEDIATE")
            try:
                yield self._connection
            except BaseException:
                self._connection.execute("ROLLBACK")
                self._load_schemas()
                raise
            self._connection.execute("COMMIT")

    def _load_schemas(self) -> None:
        connection = self._connection
        tables: dict[str, TableSchema] = {}
        for key, name, sql_name, note in connection.execute(
            "SELECT name_key, name, sql_name, note FROM _caspio_tables"
        ):
            tables[key] = TableSchema(name, sql_name, note)
        for row in connection.execute(
            "SELECT table_key, position, name, type, is_unique, unique_allow_nulls, label, "
            "description, on_insert, on_update, time_zone, format, prefix, length, is_formula "
            "FROM _caspio_fields ORDER BY table_key, position"
        ):
            tables[row[0]].fields.append(FieldDef(
                name=row[2], type=row[3], unique=bool(row[4]), unique_allow_nulls=bool(row[5]),
                label=row[6], description=row[7], display_order=row[1],
                on_insert=bool(row[8]), on_update=bool(row[9]), time_zone=row[10],
                format=row[11], prefix=row[12], length=row[13], is_formula=bool(row[14]),
            ))
        self._tables = tables

    def reset(self) -> None:
        """Drop every table (the emulator's "fresh account")."""
        with self._transaction() as connection:
            for schema in self._tables.values():
                connection.execute(f"DROP TABLE IF EXISTS {quote_identifier(schema.sql_name)}")
            connection.execute("DELETE FROM _caspio_fields")
            connection.execute("DELETE FROM _caspio_tables")
        with self._lock:
            self._tables = {}

    # ------------------------------------------------------------ tables and fields

    def list_tables(self) -> list[str]:
        with self._lock:
            return sorted((s.name for s in self._tables.values()), key=str.lower)

    def table(self, name: str) -> TableSchema:
        """Table names are case-insensitive (SDK)."""
        with self._lock:
            schema = self._tables.get(name.lower())
        if schema is None:
            raise object_not_found()
        return schema

    def create_table(self, name: object, field_models: object, note: str = "") -> TableSchema:
        table_name = check_name(name, "Table")
        if not isinstance(field_models, list) or not field_models:
            raise bad_body("A new table needs a list of at least one field definition")
        definitions = [field_from_model(model) for model in field_models]
        lowered = [d.name.lower() for d in definitions]
        if len(set(lowered)) != len(lowered):
            raise bad_body("Field names must be unique within a table")
        with self._transaction() as connection:
            key = table_name.lower()
            if key in self._tables:
                raise object_exists(f"Table '{table_name}' already exists")
            sql_name = f"t_{key}"
            connection.execute(
                f"CREATE TABLE {quote_identifier(sql_name)} "
                f"({PK_NAME} INTEGER PRIMARY KEY AUTOINCREMENT)"
            )
            connection.execute(
                "INSERT INTO _caspio_tables (name_key, name, sql_name, note) VALUES (?, ?, ?, ?)",
                (key, table_name, sql_name, note),
            )
            schema = TableSchema(table_name, sql_name, note)
            self._tables[key] = schema
            for definition in definitions:
                self._add_field(connection, schema, definition)
        return schema

    def add_field(self, table_name: str, model: object) -> FieldDef:
        definition = field_from_model(model)
        with self._transaction() as connection:
            schema = self.table(table_name)
            if any(f.name.lower() == definition.name.lower() for f in schema.fields):
                raise object_exists(f"Field '{definition.name}' already exists")
            return self._add_field(connection, schema, definition)

    def _add_field(self, connection: sqlite3.Connection, schema: TableSchema,
                   definition: FieldDef) -> FieldDef:
        schema = self._tables[schema.name.lower()]  # the current copy, not a stale one
        position = len(schema.fields) + 1
        wanted = definition.display_order
        if 1 <= wanted < position:
            position = wanted
            connection.execute(
                "UPDATE _caspio_fields SET position = position + 1 "
                "WHERE table_key = ? AND position >= ?",
                (schema.name.lower(), position),
            )
        definition = replace(definition, display_order=position)
        table_sql = quote_identifier(schema.sql_name)
        column_sql = quote_identifier(definition.name)
        connection.execute(
            f"ALTER TABLE {table_sql} ADD COLUMN {column_sql} {definition.spec.sqlite_decl}"
        )
        if definition.unique:
            index = quote_identifier(f"ix_{schema.sql_name}_{definition.name.lower()}")
            connection.execute(f"CREATE INDEX {index} ON {table_sql} ({column_sql})")
        connection.execute(
            "INSERT INTO _caspio_fields (table_key, position, name, type, is_unique, "
            "unique_allow_nulls, label, description, on_insert, on_update, time_zone, format, "
            "prefix, length, is_formula) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (schema.name.lower(), position, definition.name, definition.type,
             int(definition.unique), int(definition.unique_allow_nulls), definition.label,
             definition.description, int(definition.on_insert), int(definition.on_update),
             definition.time_zone, definition.format, definition.prefix, definition.length,
             int(definition.is_formula)),
        )
        self._load_schemas()
        # Generated types fill the rows that already exist, as Caspio does.
        if definition.type in ("AUTONUMBER", "PREFIXED AUTONUMBER", "GUID", "RANDOM ID"):
            pks = [r[0] for r in connection.execute(
                f"SELECT {PK_NAME} FROM {table_sql} ORDER BY {PK_NAME}")]
            for pk in pks:
                value = self._generated_value(connection, schema, definition)
                connection.execute(f"UPDATE {table_sql} SET {column_sql} = ? "
                                   f"WHERE {PK_NAME} = ?", (value, pk))
        return definition

    def update_field(self, table_name: str, field_name: str, model: object,
                     api_version: str) -> FieldDef:
        with self._transaction() as connection:
            schema = self.table(table_name)
            current = schema.field(field_name)
            if current is None:
                raise object_not_found()
            updated, order = field_update(current, model, api_version)
            table_sql = quote_identifier(schema.sql_name)
            key = schema.name.lower()
            if updated.name != current.name:
                if any(f.name.lower() == updated.name.lower() and f is not current
                       for f in schema.fields):
                    raise object_exists(f"Field '{updated.name}' already exists")
                connection.execute(f"ALTER TABLE {table_sql} RENAME COLUMN "
                                   f"{quote_identifier(current.name)} TO "
                                   f"{quote_identifier(updated.name)}")
            if updated.unique and not current.unique:
                self._check_no_duplicates(connection, schema, updated)
            self._rewrite_index(connection, schema, current, updated)
            connection.execute(
                "UPDATE _caspio_fields SET name = ?, is_unique = ?, unique_allow_nulls = ?, "
                "label = ?, description = ?, on_insert = ?, on_update = ?, time_zone = ?, "
                "format = ?, prefix = ?, length = ? WHERE table_key = ? AND name = ?",
                (updated.name, int(updated.unique), int(updated.unique_allow_nulls),
                 updated.label, updated.description, int(updated.on_insert),
                 int(updated.on_update), updated.time_zone, updated.format, updated.prefix,
                 updated.length, key, current.name),
            )
            if order is not None:
                names = [f.name if f is not current else updated.name for f in schema.fields]
                names.remove(updated.name)
                names.insert(max(order - 1, 0), updated.name)
                for position, name in enumerate(names, start=1):
                    connection.execute("UPDATE _caspio_fields SET position = ? "
                                       "WHERE table_key = ? AND name = ?", (position, key, name))
            self._load_schemas()
            result = self.table(table_name).field(updated.name)
            assert result is not None
            return result

    def _check_no_duplicates(self, connection: sqlite3.Connection, schema: TableSchema,
                             definition: FieldDef) -> None:
        column_sql = quote_identifier(definition.name)
        condition = "" if not definition.unique_allow_nulls else \
            f"WHERE {column_sql} IS NOT NULL AND {column_sql} <> ''"
        clash = connection.execute(
            f"SELECT {column_sql} FROM {quote_identifier(schema.sql_name)} {condition} "
            f"GROUP BY {column_sql} HAVING COUNT(*) > 1 LIMIT 1").fetchone()
        if clash:
            raise sql_error(
                f"The CREATE UNIQUE INDEX statement terminated because a duplicate key was "
                f"found for the object name 'dbo.{schema.name}'. The duplicate key value is "
                f"({_shown(from_storage(definition.spec, clash[0]))})."
            )

    def _rewrite_index(self, connection: sqlite3.Connection, schema: TableSchema,
                       current: FieldDef, updated: FieldDef) -> None:
        old_index = quote_identifier(f"ix_{schema.sql_name}_{current.name.lower()}")
        connection.execute(f"DROP INDEX IF EXISTS {old_index}")
        if updated.unique:
            index = quote_identifier(f"ix_{schema.sql_name}_{updated.name.lower()}")
            connection.execute(f"CREATE INDEX {index} ON {quote_identifier(schema.sql_name)} "
                               f"({quote_identifier(updated.name)})")

    def delete_field(self, table_name: str, field_name: str) -> None:
        with self._transaction() as connection:
            schema = self.table(table_name)
            definition = schema.field(field_name)
            if definition is None:
                raise object_not_found()
            if definition.unique:
                index = quote_identifier(f"ix_{schema.sql_name}_{definition.name.lower()}")
                connection.execute(f"DROP INDEX IF EXISTS {index}")
            connection.execute(f"ALTER TABLE {quote_identifier(schema.sql_name)} "
                               f"DROP COLUMN {quote_identifier(definition.name)}")
            connection.execute("DELETE FROM _caspio_fields WHERE table_key = ? AND name = ?",
                               (schema.name.lower(), definition.name))
            connection.execute(
                "UPDATE _caspio_fields SET position = position - 1 "
                "WHERE table_key = ? AND position > ?",
                (schema.name.lower(), definition.display_order),
            )
            self._load_schemas()

    # ------------------------------------------------------------ records

    def select(self, table_name: str, query: query_params.RecordQuery,
               shuffle: bool = False) -> SelectResult:
        with self._lock:
            schema = self.table(table_name)
            compiled = SelectCompiler(schema, self.now).compile(
                query.select, query.where, query.group_by, query.order_by,
                query.limit, query.offset, shuffle,
            )
            cursor = _run_user_query(self._connection, compiled.sql, compiled.params)
            outputs = compiled.outputs
            rows = [{out.key: out.convert(value) for out, value in zip(outputs, raw, strict=True)}
                    for raw in cursor.fetchall()]
            total = None
            if query.pagination_info:
                total = _run_user_query(self._connection, compiled.count_sql,
                                        compiled.count_params).fetchone()[0]
        return SelectResult(rows, total)

    def insert(self, table_name: str, body: object) -> Row:
        with self._transaction() as connection:
            schema = self.table(table_name)
            values = self._writable_values(schema, body)
            for definition in schema.fields:
                if definition.read_only:
                    if definition.type == "TIMESTAMP":
                        values[definition.name] = (format_datetime(self.now())
                                                   if definition.on_insert else None)
                    elif not definition.is_formula:
                        values[definition.name] = self._generated_value(connection, schema,
                                                                        definition)
                elif definition.name not in values:
                    values[definition.name] = to_storage(definition.spec, definition.name, None)
            self._check_unique(connection, schema, values, updated_pks=None)
            names = list(values)
            table_sql = quote_identifier(schema.sql_name)
            if names:
                columns = ", ".join(quote_identifier(n) for n in names)
                marks = ", ".join("?" for _ in names)
                cursor = connection.execute(
                    f"INSERT INTO {table_sql} ({columns}) VALUES ({marks})",
                    [values[n] for n in names],
                )
            else:
                cursor = connection.execute(f"INSERT INTO {table_sql} DEFAULT VALUES")
            pk = int(cursor.lastrowid or 0)
            return self._rows_by_pk(connection, schema, [pk])[0]

    def update(self, table_name: str, condition: tsql.Condition, body: object) -> UpdateResult:
        with self._transaction() as connection:
            schema = self.table(table_name)
            values = self._writable_values(schema, body)
            if not values:
                raise bad_body("The request body must name at least one field to update")
            where = WhereCompiler(schema, self.now).condition(condition)
            table_sql = quote_identifier(schema.sql_name)
            pks = [r[0] for r in _run_user_query(
                connection, f"SELECT {PK_NAME} FROM {table_sql} WHERE {where.sql}", where.params)]
            written = frozenset(values)
            if not pks:
                return UpdateResult(0, [], [], written)
            before = self._rows_by_pk(connection, schema, pks)
            for definition in schema.fields:
                if definition.type == "TIMESTAMP" and definition.on_update:
                    values[definition.name] = format_datetime(self.now())
            self._check_unique(connection, schema, values, updated_pks=pks)
            assignments = ", ".join(f"{quote_identifier(n)} = ?" for n in values)
            for chunk in _chunks(pks, 500):
                marks = ", ".join("?" for _ in chunk)
                connection.execute(
                    f"UPDATE {table_sql} SET {assignments} WHERE {PK_NAME} IN ({marks})",
                    [*values.values(), *chunk],
                )
            return UpdateResult(len(pks), self._rows_by_pk(connection, schema, pks), before,
                                written)

    def delete(self, table_name: str, condition: tsql.Condition) -> list[Row]:
        with self._transaction() as connection:
            schema = self.table(table_name)
            where = WhereCompiler(schema, self.now).condition(condition)
            table_sql = quote_identifier(schema.sql_name)
            pks = [r[0] for r in _run_user_query(
                connection, f"SELECT {PK_NAME} FROM {table_sql} WHERE {where.sql}", where.params)]
            rows = self._rows_by_pk(connection, schema, pks)
            for chunk in _chunks(pks, 500):
                marks = ", ".join("?" for _ in chunk)
                connection.execute(f"DELETE FROM {table_sql} WHERE {PK_NAME} IN ({marks})",
                                   chunk)
            return rows

    def count(self, table_name: str) -> int:
        with self._lock:
            schema = self.table(table_name)
            return int(self._connection.execute(
                f"SELECT COUNT(*) FROM {quote_identifier(schema.sql_name)}").fetchone()[0])

    # ------------------------------------------------------------ record helpers

    def _writable_values(self, schema: TableSchema, body: object) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_body("The request body must be one JSON object of field values")
        unknown = [key for key in body if key != PK_NAME and schema.field(key) is None]
        if unknown:
            raise field_not_found(unknown)
        locked = [key for key in body
                  if key == PK_NAME or getattr(schema.field(key), "read_only", False)]
        if locked:
            raise read_only(locked)
        values: dict[str, Any] = {}
        for key, value in body.items():
            definition = schema.field(key)
            assert definition is not None  # checked above
            values[definition.name] = to_storage(definition.spec, definition.name, value)
        return values

    def _check_unique(self, connection: sqlite3.Connection, schema: TableSchema,
                      values: dict[str, Any], updated_pks: list[int] | None) -> None:
        table_sql = quote_identifier(schema.sql_name)
        for definition in schema.fields:
            if not definition.unique or definition.name not in values:
                continue
            value = values[definition.name]
            blank = value is None or value == ""
            if blank and definition.unique_allow_nulls:
                continue
            shown = _shown(from_storage(definition.spec, value))
            if updated_pks is not None and len(updated_pks) > 1:
                raise unique_violation(schema.name, definition.name, shown)
            column_sql = quote_identifier(definition.name)
            # Blank text and NULL are the same "empty" value for uniqueness.
            condition = (f"({column_sql} IS NULL OR {column_sql} = '')" if blank
                         else f"{column_sql} = ?")
            params: list[Any] = [] if blank else [value]
            if updated_pks:
                condition += f" AND {PK_NAME} <> ?"
                params.append(updated_pks[0])
            clash = connection.execute(
                f"SELECT 1 FROM {table_sql} WHERE {condition} LIMIT 1", params).fetchone()
            if clash:
                raise unique_violation(schema.name, definition.name, shown)

    def _generated_value(self, connection: sqlite3.Connection, schema: TableSchema,
                         definition: FieldDef) -> Any:
        if definition.type == "GUID":
            return str(uuid.uuid4())
        if definition.type == "RANDOM ID":
            column_sql = quote_identifier(definition.name)
            table_sql = quote_identifier(schema.sql_name)
            while True:
                candidate = definition.prefix + "".join(
                    secrets.choice(definition.random_alphabet) for _ in range(definition.length))
                if not connection.execute(f"SELECT 1 FROM {table_sql} WHERE {column_sql} = ?",
                                          (candidate,)).fetchone():
                    return candidate
        # AUTONUMBER and PREFIXED AUTONUMBER share one counter per field, never reused.
        key = (schema.name.lower(), definition.name)
        number = connection.execute(
            "SELECT next_value FROM _caspio_fields WHERE table_key = ? AND name = ?", key
        ).fetchone()[0]
        connection.execute(
            "UPDATE _caspio_fields SET next_value = next_value + 1 "
            "WHERE table_key = ? AND name = ?", key,
        )
        if definition.type == "PREFIXED AUTONUMBER":
            return definition.prefix + str(number).zfill(len(definition.format))
        return number

    def _rows_by_pk(self, connection: sqlite3.Connection, schema: TableSchema,
                    pks: list[int]) -> list[Row]:
        columns = schema.output_columns()
        column_sql = ", ".join(quote_identifier(name) for name, _ in columns)
        rows: list[Row] = []
        for chunk in _chunks(pks, 500):
            marks = ", ".join("?" for _ in chunk)
            for raw in connection.execute(
                f"SELECT {column_sql} FROM {quote_identifier(schema.sql_name)} "
                f"WHERE {PK_NAME} IN ({marks}) ORDER BY {PK_NAME}", chunk,
            ):
                rows.append({name: from_storage(spec, value)
                             for (name, spec), value in zip(columns, raw, strict=True)})
        return rows


def _run_user_query(connection: sqlite3.Connection, sql: str,
                    params: list[Any]) -> sqlite3.Cursor:
    """Run SQL built from a client's clauses; a failure is the client's 400, as in Caspio."""
    try:
        return connection.execute(sql, params)
    except sqlite3.OperationalError as error:
        raise sql_error(str(error)) from None


def _chunks(items: list[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _shown(value: Any) -> str:
    return "<NULL>" if value is None or value == "" else str(value)
