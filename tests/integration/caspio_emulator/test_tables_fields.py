"""Tables and fields endpoints (reference §4; SWAG3 shapes), v2 and v3."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import V2, RawApi, assert_caspio_error

PLAN_FIELDS: list[dict[str, Any]] = [
    {"Name": "PlanKey", "Type": "STRING", "Unique": True, "Label": "Plan key"},
    {"Name": "Amount", "Type": "CURRENCY"},
    {"Name": "Active", "Type": "YES/NO"},
]


def test_create_list_and_describe_tables(api: RawApi):
    assert api.get("/tables").json() == {"Result": []}
    api.create_table("Billing_Plans", PLAN_FIELDS)
    api.create_table("Accounts", [{"Name": "Email", "Type": "STRING"}])
    assert api.get("/tables").json() == {"Result": ["Accounts", "Billing_Plans"]}
    # Table names are case-insensitive; the stored spelling comes back.
    assert api.get("/tables/billing_plans").json() == {
        "Result": {"Name": "Billing_Plans", "Note": ""}}


def test_v2_creates_tables_with_columns(api: RawApi):
    v2 = RawApi(api.running, V2)
    answer = v2.post("/tables", json={"Name": "Legacy", "Columns": [
        {"Name": "Title", "Type": "TEXT"}]})
    assert answer.status_code == 201
    assert answer.content == b""
    fields = v2.get("/tables/Legacy/fields").json()["Result"]
    # v2 has no Editable key (SDK sample); v3 adds it.
    assert "Editable" not in fields[0]
    assert api.get("/tables/Legacy/fields").json()["Result"][0]["Editable"] is True
    v2.close()


def test_field_definitions_have_caspio_shape(api: RawApi):
    api.create_table("Billing_Plans", [
        *PLAN_FIELDS,
        {"Name": "Code", "Type": "RANDOM ID", "Unique": True, "Format": "U", "Length": 8},
        {"Name": "Changed", "Type": "TIMESTAMP", "OnInsert": True, "OnUpdate": True},
    ])
    fields = api.get("/tables/Billing_Plans/fields").json()["Result"]
    assert [f["Name"] for f in fields] == ["PlanKey", "Amount", "Active", "Code", "Changed"]
    assert fields[0] == {
        "Name": "PlanKey", "Type": "STRING", "Unique": True, "Editable": True,
        "Description": "", "DisplayOrder": 1, "Label": "Plan key",
        "UniqueAllowNulls": False, "IsFormula": False,
    }
    assert fields[3]["Editable"] is False
    assert (fields[3]["Format"], fields[3]["Length"], fields[3]["Prefix"]) == ("U", 8, "")
    assert fields[4]["OnUpdate"] is True
    assert fields[4]["TimeZone"] == "UTC"
    one = api.get("/tables/Billing_Plans/fields/Amount").json()
    assert one["Result"]["Type"] == "CURRENCY"


def test_add_and_delete_fields(api: RawApi):
    api.create_table("Billing_Plans", PLAN_FIELDS)
    api.insert("Billing_Plans", {"PlanKey": "gold"})
    added = api.post("/tables/Billing_Plans/fields",
                     json={"Name": "Serial", "Type": "AUTONUMBER", "Unique": True})
    assert (added.status_code, added.content) == (201, b"")
    # Generated fields fill existing rows.
    assert api.rows("Billing_Plans")[0]["Serial"] == 1
    again = api.post("/tables/Billing_Plans/fields", json={"Name": "serial", "Type": "TEXT"})
    assert_caspio_error(again, 400, "ObjectExists")
    first = api.post("/tables/Billing_Plans/fields",
                     json={"Name": "Note", "Type": "TEXT", "DisplayOrder": 1})
    assert first.status_code == 201
    names = [f["Name"] for f in api.get("/tables/Billing_Plans/fields").json()["Result"]]
    assert names == ["Note", "PlanKey", "Amount", "Active", "Serial"]
    deleted = api.delete("/tables/Billing_Plans/fields/Note")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert "Note" not in api.rows("Billing_Plans")[0]


def test_unknown_tables_and_fields_are_object_not_found(api: RawApi):
    assert_caspio_error(api.get("/tables/Nope"), 404, "ObjectNotFound")
    assert_caspio_error(api.get("/tables/Nope/fields"), 404, "ObjectNotFound")
    api.create_table("Billing_Plans", PLAN_FIELDS)
    assert_caspio_error(api.get("/tables/Billing_Plans/fields/Nope"), 404, "ObjectNotFound")


@pytest.mark.parametrize("name", ["1abc", "has space", "x" * 33, "Dash-name", "Select", ""])
def test_invalid_names_are_rejected(api: RawApi, name: str):
    table = api.post("/tables", json={"Name": name, "Fields": [{"Name": "A", "Type": "TEXT"}]})
    assert_caspio_error(table, 400, "IncorrectBodyParameter")
    field = api.post("/tables", json={"Name": "Ok", "Fields": [{"Name": name, "Type": "TEXT"}]})
    assert_caspio_error(field, 400, "IncorrectBodyParameter")


@pytest.mark.parametrize("definition", [
    {"Name": "Id", "Type": "GUID"},  # generated types must be Unique
    {"Name": "Id", "Type": "AUTONUMBER", "Unique": False},
    {"Name": "Id", "Type": "NOPE"},
    {"Name": "Id"},
    {"Name": "Id", "Type": "TEXT", "Colour": "red"},
    {"Name": "Id", "Type": "RANDOM ID", "Unique": True, "Format": "0", "Length": 6},
    {"Name": "PK_ID", "Type": "INTEGER"},
])
def test_invalid_field_definitions_are_rejected(api: RawApi, definition: dict[str, object]):
    answer = api.post("/tables", json={"Name": "T", "Fields": [definition]})
    assert_caspio_error(answer, 400, "IncorrectBodyParameter")
    assert api.get("/tables").json() == {"Result": []}


def test_existing_table_and_bad_bodies(api: RawApi):
    api.create_table("Billing_Plans", PLAN_FIELDS)
    again = api.post("/tables", json={"Name": "BILLING_PLANS", "Fields": PLAN_FIELDS})
    assert_caspio_error(again, 400, "ObjectExists")
    assert_caspio_error(api.post("/tables", data="{not json"), 400, "IncorrectBodyParameter")
    assert_caspio_error(api.post("/tables", json={"Name": "T", "Fields": []}), 400,
                        "IncorrectBodyParameter")


def test_unknown_route_is_an_empty_404(api: RawApi):
    answer = api.get("/views/Whatever/records")
    assert (answer.status_code, answer.content) == (404, b"")
    assert answer.headers["X-Caspio-Request-ID"]


def test_update_field_renames_relabels_and_moves(api: RawApi):
    api.create_table("Billing_Plans", PLAN_FIELDS)
    api.insert("Billing_Plans", {"PlanKey": "gold", "Amount": 5})
    answer = api.put("/tables/Billing_Plans/fields/Amount",
                     json={"Name": "Price", "Label": "Price", "DisplayOrder": 0})
    assert (answer.status_code, answer.content) == (204, b"")
    fields = api.get("/tables/Billing_Plans/fields").json()["Result"]
    assert [f["Name"] for f in fields] == ["Price", "PlanKey", "Active"]
    assert fields[0]["Label"] == "Price"
    assert api.rows("Billing_Plans")[0]["Price"] == 5
    # The renamed unique key still refuses duplicates.
    api.put("/tables/Billing_Plans/fields/PlanKey", json={"Name": "Code"})
    assert_caspio_error(api.post("/tables/Billing_Plans/records", json={"Code": "GOLD"}), 400,
                        "SqlServerError")


def test_update_field_v2_uses_new_prefixed_names(api: RawApi):
    api.create_table("Billing_Plans", PLAN_FIELDS)
    v2 = RawApi(api.running, V2)
    answer = v2.put("/tables/Billing_Plans/fields/Active", json={"NewLabel": "On sale"})
    assert answer.status_code == 200
    assert api.get("/tables/Billing_Plans/fields/Active").json()["Result"]["Label"] == "On sale"
    v2.close()


def test_update_field_refusals(api: RawApi):
    api.create_table("Billing_Plans", [*PLAN_FIELDS, {"Name": "Tier", "Type": "STRING"}])
    api.insert("Billing_Plans", {"PlanKey": "a", "Tier": "gold"})
    api.insert("Billing_Plans", {"PlanKey": "b", "Tier": "Gold"})
    path = "/tables/Billing_Plans/fields/Tier"
    assert_caspio_error(api.put(path, json={"Unique": True}), 400, "SqlServerError")
    assert_caspio_error(api.put(path, json={"Type": "INTEGER"}), 400, "IncorrectBodyParameter")
    assert_caspio_error(api.put(path, json={"Name": "planKey"}), 400, "ObjectExists")
    assert_caspio_error(api.put(path, json={"Colour": "x"}), 400, "IncorrectBodyParameter")
    assert_caspio_error(api.put("/tables/Billing_Plans/fields/Nope", json={"Label": "x"}), 404,
                        "ObjectNotFound")
    api.put("/tables/Billing_Plans/records", params={"q.where": "PlanKey = 'b'"},
            json={"Tier": "silver"})
    assert api.put(path, json={"Unique": True}).status_code == 204
    assert api.get(path).json()["Result"]["Unique"] is True
