"""How the Flask app, its blueprints and the services find each other."""

import ast
from pathlib import Path
from types import SimpleNamespace

import pytest
from flask import Flask

import connector
from connector.web.extension import EXTENSION_KEY, services_of

PACKAGE = Path(connector.__file__).resolve().parent


def imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, at the top or inside a function."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_no_blueprint_imports_the_app_that_registers_it():
    for path in sorted((PACKAGE / "web").glob("*.py")):
        imports = imported_modules(path)
        assert "connector.app" not in imports, path.name
        assert "connector.app.services_of" not in imports, path.name


def test_the_extension_key_is_defined_once():
    definitions = [
        path.relative_to(PACKAGE).as_posix()
        for path in PACKAGE.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id == "EXTENSION_KEY" for t in node.targets)
    ]
    assert definitions == ["web/extension.py"]


def test_services_of_refuses_an_app_without_bridge_services():
    app = Flask("other")
    app.extensions[EXTENSION_KEY] = SimpleNamespace(settings=None)
    with pytest.raises(TypeError, match="not Services"):
        services_of(app)
