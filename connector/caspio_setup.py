"""caspio init: create the bridge's tables and fields in Caspio from the mapping.

Creates what is missing, changes nothing that exists, and reports fields whose type (or
uniqueness) differs from what the bridge needs. Running it twice creates nothing the
second time. ``table_definitions`` and ``table_markdown`` give the same definitions for
builders who prefer the Caspio UI (``deploy/caspio/``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from typing import Any, Protocol

from caspio_client.errors import CaspioAlreadyExists
from mappings import Mapping, TableDef

# How each REST type token is called in the Caspio table designer.
UI_TYPE_NAMES = {
    "STRING": "Text (255)",
    "TEXT": "Text (64000)",
    "NUMBER": "Number",
    "INTEGER": "Integer",
    "CURRENCY": "Currency",
    "DATE/TIME": "Date/Time",
    "YES/NO": "Yes/No",
    "GUID": "GUID",
    "AUTONUMBER": "AutoNumber",
    "PREFIXED AUTONUMBER": "Prefixed AutoNumber",
    "RANDOM ID": "Random ID",
    "TIMESTAMP": "Timestamp",
    "FILE": "File",
    "ATTACHMENT": "Attachment",
    "PASSWORD": "Password",
    "LIST-STRING": "List - String",
    "LIST-NUMBER": "List - Number",
    "LIST-DATE/TIME": "List - Date/Time",
}


class CaspioSchemaApi(Protocol):
    def list_tables(self) -> list[str]: ...

    def list_fields(self, table: str) -> list[dict[str, Any]]: ...

    def create_table(self, name: str, fields: list[dict[str, Any]]) -> None: ...

    def add_field(self, table: str, field: dict[str, Any]) -> None: ...


@dataclass
class InitReport:
    created_tables: list[str] = field(default_factory=list)
    added_fields: list[str] = field(default_factory=list)
    up_to_date: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created_tables or self.added_fields)

    def summary(self) -> str:
        return (
            f"tables created {len(self.created_tables)}, fields added {len(self.added_fields)}, "
            f"tables up to date {len(self.up_to_date)}, mismatches {len(self.mismatches)}"
        )


def table_definitions(mapping: Mapping) -> list[dict[str, Any]]:
    """Every table as Caspio's CreateTableRequest ``{"Name", "Fields": [FieldModel]}``."""
    return [table.caspio_definition() for table in mapping.tables.values()]


def _mismatches(table: TableDef, existing: MappingABC[str, dict[str, Any]]) -> list[str]:
    lines = []
    for definition in table.fields.values():
        found = existing.get(definition.name.lower())
        if found is None:
            continue
        where = f"{table.name}.{definition.name}"
        actual = str(found.get("Type", "")).upper()
        if actual != definition.type:
            lines.append(f"{where} is {actual or 'untyped'}, the bridge expects {definition.type}")
        if definition.unique and found.get("Unique") is False:
            lines.append(f"{where} is not unique; the bridge looks rows up by it")
    return lines


def init_caspio(
    caspio: CaspioSchemaApi,
    mapping: Mapping,
    on_line: Callable[[str], None] | None = None,
) -> InitReport:
    """Create missing tables and fields; report, never change, what exists."""
    report = InitReport()
    say = on_line or (lambda line: None)
    # Caspio compares table and field names case-insensitively.
    existing_tables = {name.lower() for name in caspio.list_tables()}
    for table in mapping.tables.values():
        if table.name.lower() not in existing_tables:
            fields = [f.caspio_definition() for f in table.fields.values()]
            try:
                caspio.create_table(table.name, fields)
            except CaspioAlreadyExists as exists:
                # Created meanwhile: check its fields below. Unless it was our own first
                # attempt whose answer was lost (the resend then hits "exists").
                created = exists.after_retry
            else:
                created = True
            if created:
                report.created_tables.append(table.name)
                say(f"created table {table.name} ({len(fields)} fields)")
                continue
        existing = {str(f.get("Name", "")).lower(): f for f in caspio.list_fields(table.name)}
        added_before = len(report.added_fields)
        for definition in table.fields.values():
            if definition.name.lower() in existing:
                continue
            try:
                caspio.add_field(table.name, definition.caspio_definition())
            except CaspioAlreadyExists as exists:
                if not exists.after_retry:  # else our own first attempt added it
                    continue
            report.added_fields.append(f"{table.name}.{definition.name}")
            say(f"added field {table.name}.{definition.name} ({definition.type})")
        if len(report.added_fields) == added_before:
            report.up_to_date.append(table.name)
        for line in _mismatches(table, existing):
            report.mismatches.append(line)
            say(f"mismatch: {line}")
    return report


def table_markdown(table: TableDef) -> str:
    """A table definition a builder can follow in the Caspio table designer."""
    lines = [
        f"# {table.name}",
        "",
        table.description,
        "",
        "Create this table in Caspio (Tables > New Table), or run `caspio-stripe caspio init`.",
        "Field names may be changed with a `BRIDGE_MAPPING` file; types may not.",
        "Fields marked *bridge* are written by the bridge: leave them empty.",
        "",
        "| Field | Data type | API type | Unique | Written by | Notes |",
        "|---|---|---|---|---|---|",
    ]
    for f in table.fields.values():
        notes = f.description
        if f.values:
            allowed = "one of " + ", ".join(f"`{v}`" for v in f.values)
            notes = f"{notes}; {allowed}" if notes else allowed.capitalize()
        lines.append(
            f"| {f.name} | {UI_TYPE_NAMES.get(f.type, f.type)} | `{f.type}` | "
            f"{'yes' if f.unique else ''} | {'bridge' if f.written_back else 'app'} | {notes} |"
        )
    lines += [
        "",
        "The same table as the REST API creates it (`POST /tables` body, as printed by",
        "`caspio-stripe caspio init --dry-run`):",
        "",
        "```json",
        json.dumps(table.caspio_definition(), indent=2),
        "```",
    ]
    return "\n".join(lines) + "\n"


def deploy_files(mapping: Mapping) -> dict[str, str]:
    """File name -> content for ``deploy/caspio/`` (one Markdown file per table)."""
    return {f"{table.name}.md": table_markdown(table) for table in mapping.tables.values()}
