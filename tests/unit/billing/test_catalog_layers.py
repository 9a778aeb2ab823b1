"""sync-plans keeps its planning pure: no Stripe, Caspio or clock in `catalog.planning`."""

import ast
from pathlib import Path

import connector.billing.catalog.planning as planning


def test_planning_imports_no_client_and_no_clock():
    tree = ast.parse(Path(planning.__file__).read_text())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module)
    forbidden = {"stripe", "caspio_client", "requests", "datetime", "time", "sqlalchemy"}
    assert not {name.split(".")[0] for name in imported} & forbidden
    assert not [name for name in imported if "stripe_catalog" in name or "write_back" in name]
