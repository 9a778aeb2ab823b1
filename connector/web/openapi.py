"""`GET /openapi.json`: the bridge's HTTP API, generated from marshmallow schemas (apispec).

Each endpoint is described once, next to nothing but its shapes:

    from connector.web.openapi import describe
    describe("/signup", "post", summary="…", tags=["sign-up"],
             body=SignupRequest, responses={303: "to Checkout", 400: ErrorSchema})

`responses` maps a status to a marshmallow schema (JSON), a plain description (no body),
or a `(content type, description)` pair (text or HTML). Only endpoints the app really
serves are published, so a blueprint left out of an app never shows up.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify
from marshmallow import Schema

OPENAPI_VERSION = "3.0.3"

SchemaLike = type[Schema] | Schema
# A JSON schema; a description alone (no body); (content type, description) for text; or
# (description, {content type: schema or None}) when the body depends on `Accept`.
ResponseSpec = SchemaLike | str | tuple[str, str] | tuple[str, dict[str, SchemaLike | None]]


@dataclass(frozen=True)
class Operation:
    path: str  # OpenAPI form: /payments/{invoice_id}/retry
    method: str
    summary: str
    tags: tuple[str, ...] = ()
    body: type[Schema] | Schema | None = None
    body_content_type: str = "application/json"
    query: type[Schema] | Schema | None = None
    path_params: tuple[str, ...] = ()
    headers: tuple[tuple[str, str, bool], ...] = ()  # (name, description, required)
    responses: dict[int, ResponseSpec] = field(default_factory=dict)
    admin: bool = False  # needs the admin bearer token


_lock = threading.Lock()
_operations: dict[tuple[str, str], Operation] = {}


def describe(
    path: str,
    method: str,
    *,
    summary: str,
    responses: dict[int, ResponseSpec],
    tags: list[str] | tuple[str, ...] = (),
    body: type[Schema] | Schema | None = None,
    body_content_type: str = "application/json",
    query: type[Schema] | Schema | None = None,
    headers: list[tuple[str, str, bool]] | tuple[tuple[str, str, bool], ...] = (),
    admin: bool = False,
) -> None:
    """Register (or replace) the description of one endpoint; `path` in OpenAPI form."""
    params = tuple(part[1:-1] for part in path.split("/") if part.startswith("{"))
    operation = Operation(
        path,
        method.lower(),
        summary,
        tuple(tags),
        body,
        body_content_type,
        query,
        params,
        tuple(headers),
        dict(responses),
        admin,
    )
    with _lock:
        _operations[(path, method.lower())] = operation


def _flask_path(rule: str) -> str:
    """`/payments/<invoice_id>/retry` -> `/payments/{invoice_id}/retry`."""
    out = []
    for part in rule.split("/"):
        if part.startswith("<") and part.endswith(">"):
            part = "{" + part[1:-1].split(":")[-1] + "}"
        out.append(part)
    return "/".join(out)


def served(app: Flask) -> set[tuple[str, str]]:
    routes = set()
    for rule in app.url_map.iter_rules():
        for method in rule.methods or ():
            routes.add((_flask_path(rule.rule), method.lower()))
    return routes


def build_spec(app: Flask, *, title: str = "caspio-stripe", version: str = "1") -> dict[str, Any]:
    """The OpenAPI document of the endpoints `app` serves."""
    spec = APISpec(
        title=title,
        version=version,
        openapi_version=OPENAPI_VERSION,
        plugins=[MarshmallowPlugin()],
        info={"description": "A bridge between a Caspio app and Stripe subscriptions."},
    )
    spec.components.security_scheme(
        "adminToken",
        {"type": "http", "scheme": "bearer", "description": "BRIDGE_ADMIN_TOKEN"},
    )
    available = served(app)
    with _lock:
        operations = sorted(_operations.values(), key=lambda o: (o.path, o.method))
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        if (op.path, op.method) in available:
            paths.setdefault(op.path, {})[op.method] = _operation(op)
    for path, methods in paths.items():
        spec.path(path=path, operations=methods)
    return spec.to_dict()


def _operation(op: Operation) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": name, "required": True, "schema": {"type": "string"}}
        for name in op.path_params
    ]
    if op.query is not None:
        parameters.append({"in": "query", "schema": op.query})
    for name, description, required in op.headers:
        parameters.append(
            {
                "in": "header",
                "name": name,
                "required": required,
                "description": description,
                "schema": {"type": "string"},
            }
        )
    name = op.path.strip("/").replace("/", "_").replace("{", "").replace("}", "")
    result: dict[str, Any] = {
        "summary": op.summary,
        "operationId": f"{op.method}_{name or 'root'}",
        "responses": {str(code): _response(spec) for code, spec in sorted(op.responses.items())},
    }
    if op.tags:
        result["tags"] = list(op.tags)
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        result["requestBody"] = {
            "required": True,
            "content": {op.body_content_type: {"schema": op.body}},
        }
    if op.admin:
        result["security"] = [{"adminToken": []}]
    return result


def _response(spec: ResponseSpec) -> dict[str, Any]:
    if isinstance(spec, str):
        return {"description": spec}
    if isinstance(spec, tuple) and isinstance(spec[1], dict):
        description, contents = spec
        return {
            "description": description,
            "content": {
                ct: {"schema": schema if schema is not None else {"type": "string"}}
                for ct, schema in contents.items()
            },
        }
    if isinstance(spec, tuple):
        content_type, text = spec
        return {"description": text, "content": {content_type: {"schema": {"type": "string"}}}}
    return {"description": _schema_doc(spec), "content": {"application/json": {"schema": spec}}}


def _schema_doc(schema: type[Schema] | Schema) -> str:
    cls = schema if isinstance(schema, type) else type(schema)
    return (cls.__doc__ or cls.__name__).strip().splitlines()[0]


blueprint = Blueprint("openapi", __name__)


@blueprint.get("/openapi.json")
def openapi_json() -> Response:
    return jsonify(build_spec(current_app))
