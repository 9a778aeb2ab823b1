"""Load ``default.yaml`` and merge a builder's renaming file (``BRIDGE_MAPPING``) over it."""

from __future__ import annotations

from collections.abc import Mapping as MappingABC
from pathlib import Path
from typing import Any

import yaml
from marshmallow import ValidationError

from mappings.model import MUST_BE_UNIQUE_TYPES, FieldDef, Mapping, MappingError, TableDef
from mappings.schema import DefaultFileSchema, OverrideFileSchema, flatten_errors

DEFAULT_PATH = Path(__file__).with_name("default.yaml")


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice (plain PyYAML keeps the last silently)."""


def _construct_mapping(loader: _UniqueKeyLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"key {key!r} is given twice", key_node.start_mark
            )
        seen.add(key)
    return loader.construct_mapping(node)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise MappingError(f"mapping file {path}: cannot be read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise MappingError(f"mapping file {path}: is not UTF-8 text") from None
    try:
        # YAML 1.1 reads yes/no as booleans; the loader only needs plain scalars.
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 - SafeLoader subclass
    except yaml.YAMLError as error:
        detail = " ".join(str(error).split())
        raise MappingError(f"mapping file {path}: not valid YAML: {detail}") from None
    except RecursionError:
        # PyYAML composes nested nodes recursively; a mapping file is never this deep.
        raise MappingError(f"mapping file {path}: nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise MappingError(f"mapping file {path}: expected a mapping with a 'tables' key")
    return data


def _fail(path: Path, lines: list[str]) -> MappingError:
    return MappingError(f"mapping file {path}: " + "; ".join(lines))


def _load_default(path: Path) -> dict[str, TableDef]:
    try:
        loaded = DefaultFileSchema().load(_read_yaml(path))
    except ValidationError as error:
        raise _fail(path, flatten_errors(error.messages)) from None
    tables: dict[str, TableDef] = {}
    for logical_table, spec in loaded["tables"].items():
        table_fields = {
            logical: FieldDef(
                logical=logical,
                name=field_spec.get("name", logical),
                type=field_spec["type"],
                unique=field_spec["unique"],
                written_back=field_spec["written_back"],
                description=field_spec["description"],
                values=tuple(field_spec["values"]),
            )
            for logical, field_spec in spec["table_fields"].items()
        }
        tables[logical_table] = TableDef(
            logical=logical_table,
            name=spec.get("name", logical_table),
            fields=table_fields,
            description=spec["description"],
        )
    return tables


def _apply_overrides(
    path: Path, tables: dict[str, TableDef], overrides: MappingABC[str, Any]
) -> tuple[dict[str, TableDef], list[str]]:
    problems: list[str] = []
    merged = dict(tables)
    for logical_table, spec in overrides.items():
        where = f"tables.{logical_table}"
        base = tables.get(logical_table)
        if base is None:
            problems.append(f"{where}: unknown table (known: {', '.join(tables)})")
            continue
        if "description" in spec and spec["description"] != base.description:
            problems.append(f"{where}.description: only names can be changed")
        new_fields = dict(base.fields)
        for logical_field, field_spec in spec.get("table_fields", {}).items():
            field_where = f"{where}.fields.{logical_field}"
            field_base = base.fields.get(logical_field)
            if field_base is None:
                problems.append(f"{field_where}: unknown field (known: {', '.join(base.fields)})")
                continue
            for attribute, value in field_spec.items():
                if attribute == "name":
                    continue
                default = getattr(field_base, attribute)
                if (tuple(value) if attribute == "values" else value) != default:
                    problems.append(
                        f"{field_where}.{attribute}: only names can be changed "
                        f"(the bridge needs {default!r})"
                    )
            new_fields[logical_field] = FieldDef(
                logical=logical_field,
                name=field_spec.get("name", field_base.name),
                type=field_base.type,
                unique=field_base.unique,
                written_back=field_base.written_back,
                description=field_base.description,
                values=field_base.values,
            )
        merged[logical_table] = TableDef(
            logical=logical_table,
            name=spec.get("name", base.name),
            fields=new_fields,
            description=base.description,
        )
    return merged, problems


def _name_clashes(tables: MappingABC[str, TableDef]) -> list[str]:
    # Caspio compares table and field names case-insensitively.
    problems: list[str] = []
    table_owner: dict[str, str] = {}
    for logical_table, table in tables.items():
        other = table_owner.setdefault(table.name.lower(), logical_table)
        if other != logical_table:
            problems.append(
                f"tables.{logical_table}.name: {table.name!r} is already used by {other}"
            )
        field_owner: dict[str, str] = {}
        for logical_field, definition in table.fields.items():
            other = field_owner.setdefault(definition.name.lower(), logical_field)
            if other != logical_field:
                problems.append(
                    f"tables.{logical_table}.fields.{logical_field}: "
                    f"{definition.name!r} is already used by {other}"
                )
            if definition.type in MUST_BE_UNIQUE_TYPES and not definition.unique:
                problems.append(
                    f"tables.{logical_table}.fields.{logical_field}.unique: "
                    f"Caspio requires {definition.type} fields to be unique"
                )
    return problems


def load_mapping(path: str | Path | None = None) -> Mapping:
    """The default mapping, with the renaming file at ``path`` merged over it.

    Raises MappingError naming the file and the offending key.
    """
    tables = _load_default(DEFAULT_PATH)
    problems = _name_clashes(tables)
    if problems:
        raise _fail(DEFAULT_PATH, problems)
    if path is None:
        return Mapping(tables=tables, source=str(DEFAULT_PATH))

    override_path = Path(path)
    try:
        overrides = OverrideFileSchema().load(_read_yaml(override_path))
    except ValidationError as error:
        raise _fail(override_path, flatten_errors(error.messages)) from None
    merged, problems = _apply_overrides(override_path, tables, overrides["tables"])
    problems.extend(_name_clashes(merged))
    if problems:
        raise _fail(override_path, problems)
    return Mapping(tables=merged, source=str(override_path))
