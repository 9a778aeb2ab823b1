"""Marshmallow schemas for mapping files, and flattening their errors to key paths.

Two shapes are accepted:

* the default file (``mappings/default.yaml``): every table and field, with types;
* a builder's renaming file (``BRIDGE_MAPPING``): only the names it changes. A field may
  be given as a plain string (``PlanKey: Plan_Code``) or as ``{name: Plan_Code}``. The
  other keys of the default shape are allowed (so a copy of default.yaml works) but must
  keep their default values: types and uniqueness belong to the bridge.
"""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, validate
from marshmallow import fields as mf

from mappings.model import CASPIO_TYPES

# Caspio's naming rules: a letter, then letters, digits or "_"; fields at most 32 long.
FIELD_NAME = validate.Regexp(
    r"^[A-Za-z][A-Za-z0-9_]{0,31}$",
    error="{input!r} is not a valid Caspio field name "
    "(a letter, then letters, digits or _, at most 32 characters)",
)
TABLE_NAME = validate.Regexp(
    r"^[A-Za-z][A-Za-z0-9_]{0,63}$",
    error="{input!r} is not a valid Caspio table name "
    "(a letter, then letters, digits or _, at most 64 characters)",
)


class _Strict(Schema):
    class Meta:
        unknown = RAISE


class DefaultFieldSchema(_Strict):
    name = mf.String(validate=FIELD_NAME)
    type = mf.String(
        required=True,
        validate=validate.OneOf(CASPIO_TYPES, error="{input!r} is not a Caspio type"),
    )
    unique = mf.Boolean(load_default=False)
    written_back = mf.Boolean(load_default=False)
    description = mf.String(load_default="")
    values = mf.List(mf.String(), load_default=list)


class DefaultTableSchema(_Strict):
    name = mf.String(validate=TABLE_NAME)
    description = mf.String(load_default="")
    table_fields = mf.Dict(
        data_key="fields", keys=mf.String(), values=mf.Nested(DefaultFieldSchema), required=True
    )


class DefaultFileSchema(_Strict):
    version = mf.Integer(validate=validate.Equal(1), load_default=1)
    tables = mf.Dict(keys=mf.String(), values=mf.Nested(DefaultTableSchema), required=True)


class FieldRename(mf.Field[dict[str, Any]]):
    """``PlanKey: Plan_Code`` or ``PlanKey: {name: Plan_Code, ...}``."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            value = {"name": value}
        if not isinstance(value, dict):
            raise ValidationError("expected a new field name or a mapping with 'name'")
        return OverrideFieldSchema().load(value)


class OverrideFieldSchema(_Strict):
    name = mf.String(validate=FIELD_NAME)
    # Accepted only when equal to the default (checked by the loader).
    type = mf.String()
    unique = mf.Boolean()
    written_back = mf.Boolean()
    description = mf.String()
    values = mf.List(mf.String())


class OverrideTableSchema(_Strict):
    name = mf.String(validate=TABLE_NAME)
    description = mf.String()
    table_fields = mf.Dict(data_key="fields", keys=mf.String(), values=FieldRename())


class OverrideFileSchema(_Strict):
    version = mf.Integer(validate=validate.Equal(1))
    tables = mf.Dict(keys=mf.String(), values=mf.Nested(OverrideTableSchema), load_default=dict)


def flatten_errors(messages: Any, prefix: str = "") -> list[str]:
    """Turn marshmallow's nested error dict into ``"tables.X.fields.Y.name: message"`` lines.

    ``mf.Dict`` nests errors under ``{key: {"value": ...}}``; the ``value`` level is
    dropped so the path reads like the YAML file.
    """
    if isinstance(messages, dict):
        lines: list[str] = []
        for key, nested in messages.items():
            if key == "value" and prefix:
                lines.extend(flatten_errors(nested, prefix))
                continue
            if key == "key" and prefix:
                lines.extend(flatten_errors(nested, prefix + " (key)"))
                continue
            if key == "_schema":
                lines.extend(flatten_errors(nested, prefix))
                continue
            path = f"{prefix}.{key}" if prefix else str(key)
            lines.extend(flatten_errors(nested, path))
        return lines
    if isinstance(messages, list):
        lines = []
        for message in messages:
            lines.extend(flatten_errors(message, prefix))
        return lines
    text = str(messages).rstrip(".")
    return [f"{prefix}: {text}" if prefix else text]
