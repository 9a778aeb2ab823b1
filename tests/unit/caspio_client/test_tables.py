"""Tables and fields: list, describe, create, add."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import pytest
import responses

from caspio_client import CaspioAlreadyExists, CaspioClient

from .conftest import V2, V3, TokenServer

PLAN_FIELDS: list[dict[str, Any]] = [
    {"Name": "PlanKey", "Type": "STRING", "Unique": True},
    {"Name": "Amount", "Type": "CURRENCY"},
]


def test_list_tables(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", V3 + "/tables", json={"Result": ["Billing_Plans", "Billing_Payments"]})
    assert client.list_tables() == ["Billing_Plans", "Billing_Payments"]
    assert client.meter.snapshot()[("GET", "", 200)] == 1


def test_describe_table_and_list_fields(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    mocked.add(
        "GET", V3 + "/tables/Billing_Plans", json={"Result": {"Name": "Billing_Plans", "Note": ""}}
    )
    field = {
        "Name": "PlanKey",
        "Type": "STRING",
        "Unique": True,
        "Description": "",
        "DisplayOrder": 1,
        "Label": "",
        "UniqueAllowNulls": False,
        "IsFormula": False,
        "Editable": True,
    }
    mocked.add("GET", V3 + "/tables/Billing_Plans/fields", json={"Result": [field]})
    assert client.describe_table("Billing_Plans") == {"Name": "Billing_Plans", "Note": ""}
    assert client.list_fields("Billing_Plans") == [field]


@pytest.mark.parametrize(("version", "base", "key"), [("v3", V3, "Fields"), ("v2", V2, "Columns")])
def test_create_table_body_per_version(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    mocked: responses.RequestsMock,
    version: str,
    base: str,
    key: str,
) -> None:
    mocked.add("POST", base + "/tables", status=201)
    make_client(api_version=version).create_table("Billing_Plans", PLAN_FIELDS)
    sent = json.loads(mocked.calls[-1].request.body or b"")
    assert sent == {"Name": "Billing_Plans", key: PLAN_FIELDS}


def test_add_field_and_existing_field(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    url = V3 + "/tables/Billing_Plans/fields"
    mocked.add("POST", url, status=201)
    mocked.add(
        "POST",
        url,
        status=400,
        json={"Code": "ObjectExists", "Message": "Field already exists", "RequestId": "r1"},
    )
    client.add_field("Billing_Plans", {"Name": "IsNew", "Type": "YES/NO"})
    assert json.loads(mocked.calls[-1].request.body or b"") == {"Name": "IsNew", "Type": "YES/NO"}
    with pytest.raises(CaspioAlreadyExists) as info:
        client.add_field("Billing_Plans", {"Name": "IsNew", "Type": "YES/NO"})
    assert info.value.code == "ObjectExists"
    posts = [c for c in mocked.calls if re.search(r"/fields$", c.request.url or "")]
    assert len(posts) == 2
