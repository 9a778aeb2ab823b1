"""Table and field definitions: validation of Caspio's ``FieldModel`` and the JSON shape of
``GET …/fields`` (``BaseColumnResult``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from sandbox.caspio.errors import bad_body, sql_error
from sandbox.caspio.fieldtypes import PK_SPEC, TYPES, TypeSpec

PK_NAME = "PK_ID"

# Caspio's naming rule (SDK quoting the UI): letters, digits and _, at most 32
# characters, starting with a letter, and not a SQL Server reserved word.
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_RESERVED_TEXT = """
ADD ALL ALTER AND ANY AS ASC AUTHORIZATION BACKUP BEGIN BETWEEN BREAK BROWSE BULK BY CASCADE
CASE CHECK CHECKPOINT CLOSE CLUSTERED COALESCE COLLATE COLUMN COMMIT COMPUTE CONSTRAINT
CONTAINS CONTAINSTABLE CONTINUE CONVERT CREATE CROSS CURRENT CURRENT_DATE CURRENT_TIME
CURRENT_TIMESTAMP CURRENT_USER CURSOR DATABASE DBCC DEALLOCATE DECLARE DEFAULT DELETE DENY
DESC DISK DISTINCT DISTRIBUTED DOUBLE DROP DUMP ELSE END ERRLVL ESCAPE EXCEPT EXEC EXECUTE
EXISTS EXIT EXTERNAL FETCH FILE FILLFACTOR FOR FOREIGN FREETEXT FREETEXTTABLE FROM FULL
FUNCTION GOTO GRANT GROUP HAVING HOLDLOCK IDENTITY IDENTITYCOL IDENTITY_INSERT IF IN INDEX
INNER INSERT INTERSECT INTO IS JOIN KEY KILL LEFT LIKE LINENO LOAD MERGE NATIONAL NOCHECK
NONCLUSTERED NOT NULL NULLIF OF OFF OFFSETS ON OPEN OPENDATASOURCE OPENQUERY OPENROWSET
OPENXML OPTION OR ORDER OUTER OVER PERCENT PIVOT PLAN PRECISION PRIMARY PRINT PROC PROCEDURE
PUBLIC RAISERROR READ READTEXT RECONFIGURE REFERENCES REPLICATION RESTORE RESTRICT RETURN
REVERT REVOKE RIGHT ROLLBACK ROWCOUNT ROWGUIDCOL RULE SAVE SCHEMA SECURITYAUDIT SELECT
SESSION_USER SET SETUSER SHUTDOWN SOME STATISTICS SYSTEM_USER TABLE TABLESAMPLE TEXTSIZE THEN
TO TOP TRAN TRANSACTION TRIGGER TRUNCATE TRY_CONVERT TSEQUAL UNION UNIQUE UNPIVOT UPDATE
UPDATETEXT USE USER VALUES VARYING VIEW WAITFOR WHEN WHERE WHILE WITH WRITETEXT
"""
RESERVED_WORDS = frozenset(_RESERVED_TEXT.split())

_FIELD_MODEL_KEYS = frozenset({
    "Name", "Type", "Unique", "UniqueAllowNulls", "Label", "Description", "DisplayOrder",
    "OnInsert", "OnUpdate", "TimeZone", "Format", "Prefix", "Length", "IsFormula", "ListField",
    "AttachmentPermittedFileTypes", "AttachmentMinFileSize", "AttachmentMaxFileSize",
    "AttachmentSmartResizer", "AttachmentSmartResizerForRetina", "AttachmentAltText",
    "AttachmentTitle",
})
_RANDOM_FORMATS = {"0": "0123456789", "U": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
                   "0U": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
_PREFIXED_FORMATS = frozenset({"1", "01", "001", "0001", "00001", "000001", "0000001"})


def check_name(name: object, what: str) -> str:
    """Return ``name`` if Caspio would accept it for a table or field, else a 400."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise bad_body(f"{what} name {name!r} is not valid: use letters, digits and _, at most "
                       "32 characters, starting with a letter")
    if name.upper() in RESERVED_WORDS:
        raise bad_body(f"{what} name {name!r} is a reserved word")
    return name


@dataclass(frozen=True)
class FieldDef:
    name: str
    type: str
    unique: bool = False
    unique_allow_nulls: bool = False
    label: str = ""
    description: str = ""
    display_order: int = 0
    on_insert: bool = False
    on_update: bool = False
    time_zone: str = ""
    format: str = ""
    prefix: str = ""
    length: int = 12
    is_formula: bool = False

    @property
    def spec(self) -> TypeSpec:
        return TYPES[self.type]

    @property
    def read_only(self) -> bool:
        return self.spec.read_only or self.is_formula

    @property
    def random_alphabet(self) -> str:
        return _RANDOM_FORMATS.get(self.format, _RANDOM_FORMATS["0U"])

    def to_json(self, api_version: str) -> dict[str, Any]:
        """``BaseColumnResult``: type-specific keys only where they apply (SDK samples)."""
        result: dict[str, Any] = {"Name": self.name, "Type": self.type, "Unique": self.unique}
        if api_version == "v3":
            result["Editable"] = not self.read_only
        result.update({
            "Description": self.description,
            "DisplayOrder": self.display_order,
            "Label": self.label,
            "UniqueAllowNulls": self.unique_allow_nulls,
            "IsFormula": self.is_formula,
        })
        if self.type == "TIMESTAMP":
            result.update({"OnInsert": self.on_insert, "OnUpdate": self.on_update,
                           "TimeZone": self.time_zone})
        if self.type in ("RANDOM ID", "PREFIXED AUTONUMBER"):
            result.update({"Format": self.format, "Prefix": self.prefix})
            if self.type == "RANDOM ID":
                result["Length"] = self.length
        return result


def field_from_model(model: object) -> FieldDef:
    """Validate one ``FieldModel`` from a request body."""
    if not isinstance(model, dict):
        raise bad_body("A field definition must be a JSON object")
    unknown = sorted(set(model) - _FIELD_MODEL_KEYS)
    if unknown:
        raise bad_body(f"Unknown field definition properties: {', '.join(unknown)}")
    name = check_name(model.get("Name"), "Field")
    if name.upper() == PK_NAME:
        raise bad_body("PK_ID is a system field")
    type_token = model.get("Type")
    if not isinstance(type_token, str) or not type_token.strip():
        raise bad_body("Field Type is required")
    type_token = " ".join(type_token.upper().split())
    if type_token not in TYPES:
        raise bad_body(f"Field type {type_token!r} is unknown or not supported by the "
                       "Caspio emulator")
    definition = FieldDef(
        name=name,
        type=type_token,
        unique=_flag(model, "Unique"),
        unique_allow_nulls=_flag(model, "UniqueAllowNulls"),
        label=_text(model, "Label", 255),
        description=_text(model, "Description", 4000),
        display_order=_integer(model, "DisplayOrder", 0),
        on_insert=_flag(model, "OnInsert"),
        on_update=_flag(model, "OnUpdate"),
        time_zone=_text(model, "TimeZone", 100) or ("UTC" if type_token == "TIMESTAMP" else ""),
        format=_text(model, "Format", 10),
        prefix=_text(model, "Prefix", 49),
        length=_integer(model, "Length", 12),
        is_formula=_flag(model, "IsFormula"),
    )
    return _check_type_options(definition)


def field_update(current: FieldDef, model: object, api_version: str) -> tuple[FieldDef, int | None]:
    """Apply an ``UpdateFieldModel`` (v3 names; v2 prefixes them with ``New``).

    Returns the new definition and the requested display order (None: unchanged; here 0
    means first, as the spec says for updates). A type change is refused: converting
    stored values is beyond this emulator.
    """
    if not isinstance(model, dict) or not model:
        raise bad_body("A field update must be a non-empty JSON object")
    if api_version == "v2":
        model = {key[3:] if key.startswith("New") else key: value
                 for key, value in model.items()}
    unknown = sorted(set(model) - _FIELD_MODEL_KEYS)
    if unknown:
        raise bad_body(f"Unknown field definition properties: {', '.join(unknown)}")
    changes: dict[str, Any] = {}
    if model.get("Name") is not None:
        changes["name"] = check_name(model["Name"], "Field")
        if changes["name"].upper() == PK_NAME:
            raise bad_body("PK_ID is a system field")
    if model.get("Type") is not None:
        token = " ".join(str(model["Type"]).upper().split())
        if token != current.type:
            raise bad_body("Changing a field's type is not supported by the Caspio emulator")
    for key, attribute in (("Unique", "unique"), ("UniqueAllowNulls", "unique_allow_nulls"),
                           ("OnInsert", "on_insert"), ("OnUpdate", "on_update")):
        if model.get(key) is not None:
            changes[attribute] = _flag(model, key)
    for key, attribute, limit in (("Label", "label", 255), ("Description", "description", 4000),
                                  ("TimeZone", "time_zone", 100), ("Format", "format", 10),
                                  ("Prefix", "prefix", 49)):
        if model.get(key) is not None:
            changes[attribute] = _text(model, key, limit)
    if model.get("Length") is not None:
        changes["length"] = _integer(model, "Length", current.length)
    order = _integer(model, "DisplayOrder", -1) if model.get("DisplayOrder") is not None \
        else None
    updated = _check_type_options(replace(current, **changes))
    return updated, order


def _check_type_options(definition: FieldDef) -> FieldDef:
    if definition.spec.must_be_unique and not definition.unique:
        raise bad_body(f"Field {definition.name} of type {definition.type} must be created "
                       "with Unique = true")
    if definition.type == "RANDOM ID":
        fmt = definition.format or "0U"
        if fmt not in _RANDOM_FORMATS:
            raise bad_body("RANDOM ID Format must be one of 0, U, 0U")
        low = 8 if fmt == "0" else 6
        if not low <= definition.length <= 12:
            raise bad_body(f"RANDOM ID Length must be from {low} to 12")
        return replace(definition, format=fmt)
    if definition.type == "PREFIXED AUTONUMBER":
        fmt = definition.format or "1"
        if fmt not in _PREFIXED_FORMATS:
            raise bad_body("PREFIXED AUTONUMBER Format must be one of 1 … 0000001")
        return replace(definition, format=fmt)
    return definition


def _flag(model: dict[str, Any], key: str) -> bool:
    value = model.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise bad_body(f"{key} must be true or false")
    return value


def _text(model: dict[str, Any], key: str, limit: int) -> str:
    value = model.get(key)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise bad_body(f"{key} must be a string of at most {limit} characters")
    return value


def _integer(model: dict[str, Any], key: str, default: int) -> int:
    value = model.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_body(f"{key} must be an integer")
    return value


@dataclass
class TableSchema:
    name: str
    sql_name: str
    note: str = ""
    fields: list[FieldDef] = field(default_factory=list)

    def field(self, name: str) -> FieldDef | None:
        """Exact-name lookup (JSON bodies)."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        return None

    def column(self, name: str) -> tuple[str, TypeSpec]:
        """Case-insensitive lookup as SQL Server resolves names in q.where and friends."""
        lowered = name.lower()
        if lowered == PK_NAME.lower():
            return PK_NAME, PK_SPEC
        for candidate in self.fields:
            if candidate.name.lower() == lowered:
                return candidate.name, candidate.spec
        raise sql_error(f"Invalid column name '{name}'.")

    def output_columns(self) -> list[tuple[str, TypeSpec]]:
        """PK_ID first, then the fields in display order."""
        return [(PK_NAME, PK_SPEC)] + [(f.name, f.spec) for f in self.fields]


def quote_identifier(name: str) -> str:
    """SQLite identifier quoting; names are validated already, this is a second guard."""
    return '"' + name.replace('"', '""') + '"'
