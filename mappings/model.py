"""The loaded mapping: logical table/field names -> the builder's Caspio names.

Logical names are the ones in PRODUCT.md (``Billing_Plans``, ``PlanKey``...). Code always
speaks logical names and asks the Mapping for the Caspio name at the edge.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping as MappingABC
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

# Caspio REST type tokens (caspio-rest-api.md §3.5).
CASPIO_TYPES = (
    "AUTONUMBER",
    "PREFIXED AUTONUMBER",
    "GUID",
    "RANDOM ID",
    "STRING",
    "TEXT",
    "PASSWORD",
    "NUMBER",
    "INTEGER",
    "CURRENCY",
    "DATE/TIME",
    "YES/NO",
    "FILE",
    "TIMESTAMP",
    "LIST-STRING",
    "LIST-NUMBER",
    "LIST-DATE/TIME",
    "ATTACHMENT",
)

# Caspio refuses these types unless the field is unique (caspio-rest-api.md §4).
MUST_BE_UNIQUE_TYPES = frozenset({"AUTONUMBER", "PREFIXED AUTONUMBER", "GUID", "RANDOM ID"})


class MappingError(ValueError):
    """A mapping file is unusable; the message names the file and the offending key."""


@dataclass(frozen=True)
class FieldDef:
    """One field: its logical name, the builder's Caspio name and what Caspio should hold."""

    logical: str
    name: str
    type: str
    unique: bool = False
    written_back: bool = False
    description: str = ""
    values: tuple[str, ...] = ()

    def caspio_definition(self) -> dict[str, Any]:
        """The field as Caspio's FieldModel (body of ``POST /tables/{t}/fields``)."""
        definition: dict[str, Any] = {"Name": self.name, "Type": self.type, "Unique": self.unique}
        description = self.description
        if self.values:
            allowed = "one of: " + ", ".join(self.values)
            description = f"{description} ({allowed})" if description else allowed.capitalize()
        if description:
            definition["Description"] = description
        return definition


@dataclass(frozen=True)
class TableDef:
    """One table: logical name, Caspio name and its fields in definition order."""

    logical: str
    name: str
    fields: MappingABC[str, FieldDef]
    description: str = ""

    @property
    def key(self) -> FieldDef:
        """The table's unique key (PlanKey, CustomerKey, ...): its first unique field."""
        for definition in self.fields.values():
            if definition.unique:
                return definition
        raise LookupError(f"table {self.logical} has no unique field")

    def caspio_definition(self) -> dict[str, Any]:
        """The table as Caspio's CreateTableRequest (body of ``POST /tables``)."""
        return {"Name": self.name, "Fields": [f.caspio_definition() for f in self.fields.values()]}


@dataclass(frozen=True)
class Mapping:
    """Logical <-> Caspio names for every table the bridge uses.

    ``from_caspio`` keeps only the columns the mapping knows (matched case-insensitively,
    as Caspio matches names) and drops the rest, PK_ID included: a builder's extra
    columns can never collide with a logical name. Read PK_ID from the raw row if needed.
    """

    tables: MappingABC[str, TableDef]
    source: str = "mappings/default.yaml"
    _reverse: MappingABC[str, MappingABC[str, str]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        reverse = {
            logical: MappingProxyType({f.name.lower(): f.logical for f in table.fields.values()})
            for logical, table in self.tables.items()
        }
        object.__setattr__(self, "tables", MappingProxyType(dict(self.tables)))
        object.__setattr__(self, "_reverse", MappingProxyType(reverse))

    def table_def(self, logical_table: str) -> TableDef:
        try:
            return self.tables[logical_table]
        except KeyError:
            raise KeyError(f"unknown logical table {logical_table!r}") from None

    def table(self, logical_table: str) -> str:
        """The builder's Caspio name for a logical table."""
        return self.table_def(logical_table).name

    def field_def(self, logical_table: str, logical_field: str) -> FieldDef:
        fields = self.table_def(logical_table).fields
        try:
            return fields[logical_field]
        except KeyError:
            raise KeyError(f"unknown field {logical_field!r} in {logical_table}") from None

    def field(self, logical_table: str, logical_field: str) -> str:
        """The builder's Caspio name for a logical field."""
        return self.field_def(logical_table, logical_field).name

    def fields(self, logical_table: str, logical_fields: Iterable[str]) -> list[str]:
        """Caspio names for several logical fields (e.g. for ``select(fields=...)``)."""
        return [self.field(logical_table, name) for name in logical_fields]

    def to_caspio(self, logical_table: str, values: MappingABC[str, Any]) -> dict[str, Any]:
        """Rename a ``{logical field: value}`` dict to Caspio names; unknown keys raise."""
        return {self.field(logical_table, name): value for name, value in values.items()}

    def from_caspio(self, logical_table: str, row: MappingABC[str, Any]) -> dict[str, Any]:
        """Rename a Caspio row to logical names, dropping columns the mapping does not know."""
        self.table_def(logical_table)
        reverse = self._reverse[logical_table]
        renamed: dict[str, Any] = {}
        for column, value in row.items():
            logical = reverse.get(column.lower())
            if logical is not None:
                renamed[logical] = value
        return renamed
