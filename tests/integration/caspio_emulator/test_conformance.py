"""The emulator's tables, fields, records and outgoing-webhooks answers validated against
Caspio's own v3 OpenAPI 3.0.4 spec (``../shared/reference/caspio-openapi-v3.json``) with
openapi-core.

Each request is validated against the spec too (so the test speaks the spec's dialect),
then the answer: status documented for the operation, body matching the schema.

Spec gaps, patched in memory only (the file is never copied or changed):
- ``servers`` points at the real account; it is replaced by the emulator's address.
- Record values are typed ``additionalProperties: {"type": "object"}`` (``GetRecordsResponse``,
  ``PostRecordsResponse``, ``PutRecordsResponse``): the generator's rendering of .NET
  ``object``, i.e. any JSON value. Taken literally no string or number could be a field
  value, so it is relaxed to ``{}``.
- ``CreateTableRecord`` declares a nullable JSON body for 201, while its description says
  that without ``response=rows`` "only 201 Created is returned"; the empty body is checked
  here by hand.
- Webhook ``DateCreated``/``LastModified`` are typed ``date-time``, which the format check
  reads as RFC 3339 with a zone; the emulator sends them with ``Z`` (record dates stay
  zone-less, as Caspio sends them).
- Error bodies are not described at all (statuses only). Their shape comes from the
  reference (§5) and is tested in the other modules; here only the status is checked
  against the operation's documented ones.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.caspio.server import RunningEmulator

from .conftest import V3, load_openapi_spec

RECORD_SCHEMAS = ("GetRecordsResponse", "PostRecordsResponse", "PutRecordsResponse")


def patched_spec(base_url: str) -> dict[str, Any]:
    spec = load_openapi_spec()
    spec = json.loads(json.dumps(spec))  # a private deep copy
    spec["servers"] = [{"url": base_url + "/integrations/rest"}]
    schemas = spec["components"]["schemas"]
    for name in RECORD_SCHEMAS:
        items = schemas[name]["properties"]["Result"]["items"]
        assert items["additionalProperties"] == {"type": "object"}, "the spec changed"
        items["additionalProperties"] = {}
    return spec


class Conformance:
    def __init__(self, running: RunningEmulator) -> None:
        self.running = running
        self.spec = patched_spec(running.base_url)
        self.openapi = OpenAPI.from_dict(self.spec)
        self.session = requests.Session()
        token = self.session.post(running.base_url + "/oauth/token", timeout=10, data={
            "grant_type": "client_credentials", "client_id": running.client_id,
            "client_secret": running.client_secret}).json()["access_token"]
        self.headers = {"Authorization": f"Bearer {token}"}
        self.checked: set[tuple[str, str, int]] = set()

    def documented_statuses(self, method: str, template: str) -> set[int]:
        responses = self.spec["paths"][template][method.lower()]["responses"]
        return {int(status) for status in responses}

    def call(self, method: str, template: str, path: str, expected: int,
             **kwargs: Any) -> requests.Response:
        request = requests.Request(method, self.running.base_url + V3 + path,
                                   headers=dict(self.headers), **kwargs)
        self.openapi.validate_request(RequestsOpenAPIRequest(request))
        response = self.session.send(request.prepare(), timeout=10)
        assert response.status_code == expected, response.text
        assert response.status_code in self.documented_statuses(method, template)
        if response.status_code < 400 and response.content:
            self.openapi.validate_response(RequestsOpenAPIRequest(request),
                                           RequestsOpenAPIResponse(response))
        self.checked.add((method, template, response.status_code))
        return response


@pytest.fixture
def conformance(fresh_caspio_emulator: RunningEmulator) -> Iterator[Conformance]:
    checker = Conformance(fresh_caspio_emulator)
    yield checker
    checker.session.close()


TABLES = "/v3/tables"
TABLE = "/v3/tables/{tableName}"
FIELDS = "/v3/tables/{tableName}/fields"
FIELD = "/v3/tables/{tableName}/fields/{fieldName}"
RECORDS = "/v3/tables/{tableName}/records"


def test_tables_and_fields_conform(conformance: Conformance):
    c = conformance
    created = c.call("POST", TABLES, "/tables", 201, json={"Name": "Billing_Plans", "Fields": [
        {"Name": "PlanKey", "Type": "STRING", "Unique": True, "Label": "Key"},
        {"Name": "Amount", "Type": "CURRENCY"},
        {"Name": "Code", "Type": "RANDOM ID", "Unique": True, "Format": "0U", "Length": 8},
        {"Name": "Stamp", "Type": "TIMESTAMP", "OnInsert": True, "TimeZone": "UTC"},
    ]})
    assert created.content == b""
    c.call("POST", TABLES, "/tables", 400, json={"Name": "Billing_Plans", "Fields": []})
    assert c.call("GET", TABLES, "/tables", 200).json() == {"Result": ["Billing_Plans"]}
    c.call("GET", TABLE, "/tables/Billing_Plans", 200)
    c.call("GET", TABLE, "/tables/Nope", 404)
    added = c.call("POST", FIELDS, "/tables/Billing_Plans/fields", 201,
                   json={"Name": "Active", "Type": "YES/NO"})
    assert added.content == b""
    c.call("POST", FIELDS, "/tables/Billing_Plans/fields", 400,
           json={"Name": "Active", "Type": "YES/NO"})
    c.call("POST", FIELDS, "/tables/Nope/fields", 404, json={"Name": "X", "Type": "TEXT"})
    fields = c.call("GET", FIELDS, "/tables/Billing_Plans/fields", 200).json()["Result"]
    assert [f["Name"] for f in fields] == ["PlanKey", "Amount", "Code", "Stamp", "Active"]
    c.call("GET", FIELD, "/tables/Billing_Plans/fields/Code", 200)
    c.call("GET", FIELD, "/tables/Billing_Plans/fields/Nope", 404)
    renamed = c.call("PUT", FIELD, "/tables/Billing_Plans/fields/Amount", 204,
                     json={"Name": "Price", "Label": "Price", "DisplayOrder": 1})
    assert renamed.content == b""
    c.call("PUT", FIELD, "/tables/Billing_Plans/fields/Price", 400, json={"Type": "TEXT"})
    c.call("PUT", FIELD, "/tables/Billing_Plans/fields/Nope", 404, json={"Label": "x"})
    deleted = c.call("DELETE", FIELD, "/tables/Billing_Plans/fields/Active", 204)
    assert deleted.content == b""


def test_records_conform(conformance: Conformance):
    c = conformance
    c.call("POST", TABLES, "/tables", 201, json={"Name": "Subs", "Fields": [
        {"Name": "SubKey", "Type": "STRING", "Unique": True},
        {"Name": "Seats", "Type": "INTEGER"},
        {"Name": "Amount", "Type": "CURRENCY"},
        {"Name": "Starts", "Type": "DATE/TIME"},
        {"Name": "Active", "Type": "YES/NO"},
    ]})
    plain = c.call("POST", RECORDS, "/tables/Subs/records", 201,
                   json={"SubKey": "a", "Seats": 1, "Amount": 5.5})
    assert plain.content == b""
    rows = c.call("POST", RECORDS, "/tables/Subs/records", 201, params={"response": "rows"},
                  json={"SubKey": "b", "Seats": 2, "Starts": "2026-01-01", "Active": True})
    assert rows.json()["Result"][0]["SubKey"] == "b"
    for number in range(3, 13):
        c.call("POST", RECORDS, "/tables/Subs/records", 201, json={"SubKey": f"k{number}"})
    c.call("POST", RECORDS, "/tables/Subs/records", 400, json={"SubKey": "a"})
    c.call("POST", RECORDS, "/tables/Subs/records", 404, json={"Nope": "a"})
    c.call("POST", RECORDS, "/tables/Nope/records", 404, json={"SubKey": "a"})

    listed = c.call("GET", RECORDS, "/tables/Subs/records", 200, params={
        "q.select": "SubKey, Seats", "q.where": "Seats IS NULL", "q.orderBy": "SubKey DESC",
        "q.pageNumber": 2, "q.pageSize": 5, "q.getPaginationInfo": True}).json()
    assert listed["Pagination"] == {"TotalCount": 10, "PageNumber": 2, "PageSize": 5}
    assert [r["SubKey"] for r in listed["Result"]] == ["k4", "k3", "k12", "k11", "k10"]
    c.call("GET", RECORDS, "/tables/Subs/records", 200, params={"q.limit": 3})
    c.call("GET", RECORDS, "/tables/Subs/records", 200, params={
        "q.select": "Active, COUNT(PK_ID) AS N", "q.groupBy": "Active"})
    c.call("GET", RECORDS, "/tables/Subs/records", 400, params={"q.pageSize": 4})
    c.call("GET", RECORDS, "/tables/Subs/records", 400, params={"q.where": "Seats = = 1"})
    c.call("GET", RECORDS, "/tables/Nope/records", 404)

    updated = c.call("PUT", RECORDS, "/tables/Subs/records", 200,
                     params={"q.where": "SubKey = 'a'"}, json={"Seats": 3})
    assert updated.json() == {"RecordsAffected": 1, "Result": []}
    with_rows = c.call("PUT", RECORDS, "/tables/Subs/records", 200,
                       params={"q.where": "Seats >= 2", "response": "rows"},
                       json={"Active": False}).json()
    assert with_rows["RecordsAffected"] == 2
    c.call("PUT", RECORDS, "/tables/Subs/records", 400, params={"q.where": "PK_ID = 1"},
           json={"PK_ID": 9})
    deleted = c.call("DELETE", RECORDS, "/tables/Subs/records", 200,
                     params={"q.where": "SubKey LIKE 'k%'"})
    assert deleted.json() == {"RecordsAffected": 10}
    c.call("DELETE", RECORDS, "/tables/Nope/records", 404, params={"q.where": "PK_ID = 1"})


def test_every_operation_is_covered(conformance: Conformance):
    """Guard: the two scenarios above touch each tables/fields/records operation."""
    test_tables_and_fields_conform(conformance)
    test_records_conform(conformance)
    operations = {(m, t) for m, t, _ in conformance.checked}
    assert operations == {
        ("GET", TABLES), ("POST", TABLES), ("GET", TABLE), ("GET", FIELDS), ("POST", FIELDS),
        ("GET", FIELD), ("PUT", FIELD), ("DELETE", FIELD), ("GET", RECORDS), ("POST", RECORDS),
        ("PUT", RECORDS), ("DELETE", RECORDS),
    }


HOOKS = "/v3/outgoingWebhooks"
HOOK = "/v3/outgoingWebhooks/{webhookId}"
HOOK_EVENTS = "/v3/outgoingWebhooks/{webhookId}/events"
HOOK_EVENT = "/v3/outgoingWebhooks/{webhookId}/events/{eventId}"


def test_outgoing_webhooks_conform(conformance: Conformance):
    c = conformance
    c.call("POST", TABLES, "/tables", 201,
           json={"Name": "Subs", "Fields": [{"Name": "SubKey", "Type": "STRING"}]})
    hook = c.call("POST", HOOKS, "/outgoingWebhooks", 201, json={
        "Name": "bridge", "Description": "d", "OutgoingUrls": ["https://example.invalid/h"],
        "CallThrottling": 5}).json()
    c.call("POST", HOOKS, "/outgoingWebhooks", 400, json={"Name": "bridge",
                                                           "OutgoingUrls": []})
    c.call("GET", HOOKS, "/outgoingWebhooks", 200)
    c.call("GET", HOOK, f"/outgoingWebhooks/{hook['Id']}", 200)
    c.call("GET", HOOK, "/outgoingWebhooks/nope", 404)
    c.call("PUT", HOOK, f"/outgoingWebhooks/{hook['Id']}", 200, json={"Enabled": False})
    event = c.call("POST", HOOK_EVENTS, f"/outgoingWebhooks/{hook['Id']}/events", 201, json={
        "EventType": "table.recordInsert", "ObjectName": "Subs",
        "EventSources": ["RESTAPIs"]}).json()
    c.call("GET", HOOK_EVENTS, f"/outgoingWebhooks/{hook['Id']}/events", 200)
    path = f"/outgoingWebhooks/{hook['Id']}/events/{event['Id']}"
    c.call("GET", HOOK_EVENT, path, 200)
    c.call("PUT", HOOK_EVENT, path, 200, json={"EventType": "table.recordUpdate",
                                               "ObjectName": "Subs", "ObjectFields": ["SubKey"],
                                               "Enabled": False})
    assert c.call("DELETE", HOOK_EVENT, path, 204).content == b""
    assert c.call("DELETE", HOOK, f"/outgoingWebhooks/{hook['Id']}", 204).content == b""
