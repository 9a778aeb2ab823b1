"""Schemathesis fuzzing of table and field creation against Caspio's v3 OpenAPI spec.

Request bodies are generated from the spec's ``CreateTableRequest`` and ``FieldModel``;
half of them get a valid Caspio name and type swapped in, so both the accepted and the
refused paths run. Every answer must be a documented status, never a 5xx, and match the
response schema; after each accepted write the table's field list is fetched and
validated too.

Not checked: "schema-valid data is accepted". The spec allows any ``Name``/``Type`` string,
while Caspio's naming rules and type tokens (reference §3.5) are stricter, so the emulator
rightly answers 400 to much of what the spec would allow.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from sandbox.caspio import run_emulator
from sandbox.caspio.fieldtypes import TYPES
from sandbox.caspio.server import RunningEmulator

from .conftest import load_openapi_spec

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance,
          content_type_conformance]
NAMES = st.from_regex(r"[A-Za-z][A-Za-z0-9_]{0,20}", fullmatch=True)


@pytest.fixture(scope="module")
def fuzz_target() -> Iterator[tuple[RunningEmulator, Any, dict[str, str]]]:
    spec = load_openapi_spec()
    with run_emulator() as running:
        spec = json.loads(json.dumps(spec))
        spec["servers"] = [{"url": running.base_url + "/integrations/rest"}]
        schema = schemathesis.openapi.from_dict(spec)
        token = requests.post(running.base_url + "/oauth/token", timeout=10, data={
            "grant_type": "client_credentials", "client_id": running.client_id,
            "client_secret": running.client_secret}).json()["access_token"]
        running.controls.store.create_table("Fuzz", [{"Name": "Seed", "Type": "TEXT"}])
        yield running, schema, {"Authorization": f"Bearer {token}"}


COMMON_KEYS = {"Name", "Type", "Unique", "UniqueAllowNulls", "Label", "Description",
               "DisplayOrder"}


def repair(body: Any, data: st.DataObject) -> None:
    """Swap in a valid Caspio name and type; sometimes drop the type-specific options."""
    if not isinstance(body, dict):
        return
    body["Name"] = data.draw(NAMES)
    body["Type"] = data.draw(st.sampled_from(sorted(TYPES)))
    if data.draw(st.booleans()):
        for key in set(body) - COMMON_KEYS:
            del body[key]
    if TYPES[body["Type"]].must_be_unique:
        body["Unique"] = True


def call(case: Any, running: RunningEmulator, headers: dict[str, str]) -> requests.Response:
    response = case.call(base_url=running.base_url + "/integrations/rest", headers=headers,
                         timeout=10)
    case.validate_response(response, checks=CHECKS)
    return response


def check_field_list(schema: Any, running: RunningEmulator, headers: dict[str, str],
                     table: str) -> None:
    listing = schema["/v3/tables/{tableName}/fields"]["GET"]
    call(listing.Case(path_parameters={"tableName": table}), running, headers)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_field_creation_fuzz(fuzz_target: tuple[RunningEmulator, Any, dict[str, str]],
                             data: st.DataObject):
    running, schema, headers = fuzz_target
    case = data.draw(schema["/v3/tables/{tableName}/fields"]["POST"].as_strategy())
    case.path_parameters["tableName"] = "Fuzz"
    if data.draw(st.booleans()):
        repair(case.body, data)
    response = call(case, running, headers)
    assert response.status_code in (201, 400)
    if response.status_code == 201:
        check_field_list(schema, running, headers, "Fuzz")


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_table_creation_fuzz(fuzz_target: tuple[RunningEmulator, Any, dict[str, str]],
                             data: st.DataObject):
    running, schema, headers = fuzz_target
    case = data.draw(schema["/v3/tables"]["POST"].as_strategy())
    if data.draw(st.booleans()) and isinstance(case.body, dict):
        case.body["Name"] = data.draw(NAMES)
        for field in case.body.get("Fields") or []:
            repair(field, data)
    response = call(case, running, headers)
    assert response.status_code in (201, 400)
    if response.status_code == 201:
        check_field_list(schema, running, headers, case.body["Name"])


