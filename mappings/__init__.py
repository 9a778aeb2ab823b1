"""Table and field names: ``default.yaml`` plus a builder's renaming file."""

from mappings.loader import DEFAULT_PATH, load_mapping
from mappings.model import CASPIO_TYPES, FieldDef, Mapping, MappingError, TableDef

__all__ = [
    "CASPIO_TYPES",
    "DEFAULT_PATH",
    "FieldDef",
    "Mapping",
    "MappingError",
    "TableDef",
    "load_mapping",
]
