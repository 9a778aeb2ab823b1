"""Records endpoints: JSON forms of the field types, writes, errors, paging and bounds.

Written from reference §3 and §10 (the parts the OpenAPI spec leaves open).
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from sandbox.caspio import ManualClock, run_emulator

from .conftest import V2, RawApi, assert_caspio_error

ALL_TYPES: list[dict[str, Any]] = [
    {"Name": "Title", "Type": "STRING", "Unique": True},
    {"Name": "Notes", "Type": "TEXT"},
    {"Name": "Ratio", "Type": "NUMBER"},
    {"Name": "Seats", "Type": "INTEGER"},
    {"Name": "Amount", "Type": "CURRENCY"},
    {"Name": "Starts", "Type": "DATE/TIME"},
    {"Name": "Active", "Type": "YES/NO"},
    {"Name": "Serial", "Type": "AUTONUMBER", "Unique": True},
    {"Name": "Ref", "Type": "PREFIXED AUTONUMBER", "Unique": True, "Prefix": "INV-",
     "Format": "0001"},
    {"Name": "Uid", "Type": "GUID", "Unique": True},
    {"Name": "Code", "Type": "RANDOM ID", "Unique": True, "Format": "0U", "Length": 8},
    {"Name": "Created", "Type": "TIMESTAMP", "OnInsert": True},
    {"Name": "Changed", "Type": "TIMESTAMP", "OnUpdate": True},
]


@pytest.fixture
def typed(api: RawApi) -> RawApi:
    api.create_table("Typed", ALL_TYPES)
    return api


def test_insert_returns_201_empty_with_a_location(typed: RawApi):
    answer = typed.post("/tables/Typed/records", json={"Title": "a"})
    assert (answer.status_code, answer.content) == (201, b"")
    location = answer.headers["Location"]
    # PROXY pulls the id out of the Location with /ID=(\d+)/.
    assert re.search(r"ID=(\d+)", location).group(1) == "1"  # type: ignore[union-attr]
    assert location.startswith(typed.running.base_url + "/integrations/rest/v3/tables/Typed")


def test_every_type_has_caspio_json_form(typed: RawApi):
    row = typed.insert("Typed", {
        "Title": "Gold", "Notes": "x" * 300, "Ratio": 1.5, "Seats": 3, "Amount": 19.99,
        "Starts": "2026-03-01T10:30:00Z", "Active": True,
    })
    assert row["PK_ID"] == 1
    assert list(row)[0] == "PK_ID"
    assert (row["Title"], row["Ratio"], row["Seats"], row["Amount"]) == ("Gold", 1.5, 3, 19.99)
    assert row["Starts"] == "2026-03-01T10:30:00"  # no zone, converted to UTC
    assert row["Active"] is True
    assert (row["Serial"], row["Ref"]) == (1, "INV-0001")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}",
                        row["Uid"])
    assert re.fullmatch(r"[0-9A-Z]{8}", row["Code"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?", row["Created"])
    assert row["Changed"] is None
    second = typed.insert("Typed", {"Title": "Silver"})
    assert (second["Serial"], second["Ref"], second["PK_ID"]) == (2, "INV-0002", 2)


def test_blanks_read_as_caspio_does(typed: RawApi):
    row = typed.insert("Typed", {"Title": None})
    # Blank text is "", other empty types are null, Yes/No is false.
    assert (row["Title"], row["Notes"]) == ("", "")
    assert (row["Ratio"], row["Seats"], row["Amount"], row["Starts"]) == (None,) * 4
    assert row["Active"] is False


def test_currency_keeps_decimal_precision(typed: RawApi):
    typed.insert("Typed", {"Title": "a", "Amount": 0.1})
    typed.insert("Typed", {"Title": "b", "Amount": 0.2})
    typed.insert("Typed", {"Title": "c", "Amount": 12.34567})  # money keeps 4 decimals
    assert typed.rows("Typed", **{"q.where": "Amount = 12.3457"})[0]["Title"] == "c"
    total = typed.rows("Typed", **{"q.select": "SUM(Amount) AS Total",
                                   "q.where": "Amount < 1"})
    assert total == [{"Total": 0.3}]


def test_yes_no_and_dates_accept_the_observed_forms(typed: RawApi):
    typed.insert("Typed", {"Title": "a", "Active": 1, "Starts": "2024-01-05"})
    typed.insert("Typed", {"Title": "b", "Active": False, "Starts": "2024-02-05 08:00:00"})
    assert [r["Title"] for r in typed.rows("Typed", **{"q.where": "Active = 1"})] == ["a"]
    assert [r["Title"] for r in typed.rows("Typed", **{"q.where": "Active = 'true'"})] == ["a"]
    feb = typed.rows("Typed", **{"q.where": "Starts BETWEEN '2024-02-01' AND '2024-02-28'"})
    assert [r["Starts"] for r in feb] == ["2024-02-05T08:00:00"]


@pytest.mark.parametrize(("values", "status", "code"), [
    ({"Nope": 1}, 404, "FieldNotFound"),
    ({"PK_ID": 5}, 400, "AlterReadOnlyData"),
    ({"Serial": 5}, 400, "AlterReadOnlyData"),
    ({"Created": "2024-01-01"}, 400, "AlterReadOnlyData"),
    ({"Seats": "three"}, 400, "InvalidInputValue"),
    ({"Seats": 1.5}, 400, "InvalidInputValue"),
    ({"Active": "yes"}, 400, "InvalidInputValue"),
    ({"Starts": "not a date"}, 400, "InvalidInputValue"),
    ({"Amount": True}, 400, "InvalidInputValue"),
    ({"Title": "x" * 256}, 400, "SqlServerError"),
])
def test_bad_writes_are_refused_without_a_row(typed: RawApi, values: dict[str, Any],
                                              status: int, code: str):
    answer = typed.post("/tables/Typed/records", json=values)
    assert_caspio_error(answer, status, code)
    assert typed.rows("Typed") == []


def test_array_and_non_json_bodies_are_refused(typed: RawApi):
    assert_caspio_error(typed.post("/tables/Typed/records", json=[{"Title": "a"}]), 400,
                        "IncorrectBodyParameter")
    assert_caspio_error(typed.post("/tables/Typed/records", data="x"), 400,
                        "IncorrectBodyParameter")


def test_unique_violation_uses_the_chosen_sql_server_form(typed: RawApi):
    typed.insert("Typed", {"Title": "Gold"})
    answer = typed.post("/tables/Typed/records", json={"Title": "GOLD "})
    body = assert_caspio_error(answer, 400, "SqlServerError")
    assert body["Message"] == (
        "Violation of UNIQUE KEY constraint 'UQ_Typed_Title'. Cannot insert duplicate key in "
        "object 'dbo.Typed'. The duplicate key value is (GOLD )."
    )
    # Blank counts as a value for a unique field unless UniqueAllowNulls is set.
    typed.insert("Typed", {"Notes": "first blank"})
    assert typed.post("/tables/Typed/records", json={"Title": ""}).status_code == 400


def test_unique_allow_nulls_lets_blanks_repeat(api: RawApi):
    api.create_table("T", [{"Name": "Email", "Type": "STRING", "Unique": True,
                            "UniqueAllowNulls": True}, {"Name": "N", "Type": "INTEGER"}])
    api.insert("T", {"N": 1})
    api.insert("T", {"N": 2, "Email": ""})
    assert len(api.rows("T")) == 2


def test_update_returns_records_affected_and_rows(typed: RawApi):
    for title in ("a", "b", "c"):
        typed.insert("Typed", {"Title": title, "Seats": 1})
    answer = typed.put("/tables/Typed/records", params={"q.where": "Seats = 1 AND Title <> 'c'"},
                       json={"Seats": 2})
    assert answer.json() == {"RecordsAffected": 2, "Result": []}
    rows = typed.put("/tables/Typed/records", params={"q.where": "Title = 'a'",
                                                      "response": "rows"},
                     json={"Notes": "hi"}).json()
    assert rows["RecordsAffected"] == 1
    assert rows["Result"][0]["Notes"] == "hi"
    assert rows["Result"][0]["Changed"] is not None  # TIMESTAMP OnUpdate
    none = typed.put("/tables/Typed/records", params={"q.where": "Title = 'zzz'"},
                     json={"Seats": 9})
    assert (none.status_code, none.json()) == (200, {"RecordsAffected": 0, "Result": []})


def test_update_cannot_break_unique_or_touch_read_only(typed: RawApi):
    typed.insert("Typed", {"Title": "a"})
    typed.insert("Typed", {"Title": "b"})
    clash = typed.put("/tables/Typed/records", params={"q.where": "Title = 'b'"},
                      json={"Title": "A"})
    assert_caspio_error(clash, 400, "SqlServerError")
    many = typed.put("/tables/Typed/records", params={"q.where": "PK_ID > 0"},
                     json={"Title": "same"})
    assert_caspio_error(many, 400, "SqlServerError")
    same = typed.put("/tables/Typed/records", params={"q.where": "Title = 'a'"},
                     json={"Title": "a"})
    assert same.json()["RecordsAffected"] == 1
    assert_caspio_error(typed.put("/tables/Typed/records", params={"q.where": "PK_ID = 1"},
                                  json={"Uid": "x"}), 400, "AlterReadOnlyData")
    assert_caspio_error(typed.put("/tables/Typed/records", params={"q.where": "PK_ID = 1"},
                                  json={}), 400, "IncorrectBodyParameter")


def test_put_and_delete_require_a_where_and_accept_the_alias(typed: RawApi):
    for title in ("a", "b", "c"):
        typed.insert("Typed", {"Title": title})
    assert_caspio_error(typed.delete("/tables/Typed/records"), 400, "IncorrectQueryParameter")
    assert_caspio_error(typed.delete("/tables/Typed/records", params={"q.where": " "}), 400,
                        "IncorrectQueryParameter")
    assert_caspio_error(typed.put("/tables/Typed/records", json={"Seats": 1}), 400,
                        "IncorrectQueryParameter")
    assert len(typed.rows("Typed")) == 3
    answer = typed.delete("/tables/Typed/records", params={"where": "Title = 'a'"})
    assert answer.json() == {"RecordsAffected": 1}
    answer = typed.delete("/tables/Typed/records", params={"Q.WHERE": "Title = 'zzz'"})
    assert (answer.status_code, answer.json()) == (200, {"RecordsAffected": 0})
    assert typed.delete("/tables/Typed/records",
                        params={"q.where": "PK_ID > 0"}).json() == {"RecordsAffected": 2}


def test_delete_all_then_insert_never_reuses_ids(typed: RawApi):
    typed.insert("Typed", {"Title": "a"})
    typed.delete("/tables/Typed/records", params={"q.where": "PK_ID > 0"})
    row = typed.insert("Typed", {"Title": "b"})
    assert (row["PK_ID"], row["Serial"]) == (2, 2)


@pytest.fixture
def numbered(api: RawApi) -> RawApi:
    api.create_table("N", [{"Name": "Num", "Type": "INTEGER"},
                           {"Name": "Half", "Type": "STRING"}])
    # Straight into the store: these tests are about reading, and 1,200 POSTs are slow.
    store = api.running.emulator.store
    for number in range(1, 1201):
        store.insert("N", {"Num": number, "Half": "low" if number <= 600 else "high"})
    return api


def test_limit_and_paging_defaults_and_bounds(numbered: RawApi):
    get = numbered.rows
    assert len(get("N")) == 100  # default q.limit
    assert len(get("N", **{"q.limit": 5000})) == 1000  # clamped to the maximum
    assert len(get("N", **{"q.limit": 7})) == 7
    assert len(get("N", **{"q.pageNumber": 2})) == 25  # page size defaults to 25
    page = get("N", **{"q.pageSize": 5, "q.orderBy": "Num DESC"})  # page number defaults to 1
    assert [r["Num"] for r in page] == [1200, 1199, 1198, 1197, 1196]
    # q.limit is ignored when paging.
    page3 = get("N", **{"q.pageSize": 10, "q.pageNumber": 3, "q.limit": 2, "q.orderby": "Num"})
    assert [r["Num"] for r in page3] == list(range(21, 31))
    assert get("N", **{"q.pageSize": 1000, "q.pageNumber": 3}) == []
    for params in ({"q.pageSize": 4}, {"q.pageSize": 1001}, {"q.pageNumber": 0},
                   {"q.limit": 0}, {"q.limit": "ten"}):
        assert_caspio_error(numbered.get("/tables/N/records", params=params), 400,
                            "IncorrectQueryParameter")


def test_pagination_info_is_v3_only(numbered: RawApi):
    body = numbered.get("/tables/N/records", params={
        "q.where": "Half = 'low'", "q.pageSize": 100, "q.pageNumber": 2,
        "q.getPaginationInfo": "true"}).json()
    assert body["Pagination"] == {"TotalCount": 600, "PageNumber": 2, "PageSize": 100}
    assert numbered.get("/tables/N/records").json().keys() == {"Result"}
    v2 = RawApi(numbered.running, V2)
    assert v2.get("/tables/N/records", params={"q.getPaginationInfo": "true"}).json().keys() \
        == {"Result"}
    v2.close()


def test_select_group_by_and_order_by(numbered: RawApi):
    groups = numbered.rows("N", **{"q.select": "Half, COUNT(*) AS Rows, MAX(Num) AS Highest",
                                   "q.groupBy": "Half", "q.orderBy": "Half"})
    assert groups == [{"Half": "high", "Rows": 600, "Highest": 1200},
                      {"Half": "low", "Rows": 600, "Highest": 600}]
    distinct = numbered.rows("N", **{"q.select": "DISTINCT Half", "q.orderBy": "Half DESC"})
    assert distinct == [{"Half": "low"}, {"Half": "high"}]
    picked = numbered.rows("N", **{"q.select": "Num AS n, PK_ID", "q.where": "Num = 3"})
    assert picked == [{"n": 3, "PK_ID": 3}]
    not_grouped = numbered.get("/tables/N/records",
                               params={"q.select": "Num, COUNT(*)", "q.groupBy": "Half"})
    assert_caspio_error(not_grouped, 400, "SqlServerError")
    # An unknown field in q.select was observed to give a 500 (PIDX).
    assert_caspio_error(numbered.get("/tables/N/records", params={"q.select": "Nope"}),
                        500, "InternalError")


def test_plus_in_the_query_string_is_a_space(numbered: RawApi):
    url = numbered.url("/tables/N/records") + "?q.where=Num+%3D+5+OR+Num+%3D+6&q.orderBy=Num"
    answer = numbered.session.get(url, headers={"Authorization": f"Bearer {numbered.token}"},
                                  timeout=10)
    assert [r["Num"] for r in answer.json()["Result"]] == [5, 6]


def test_request_uri_over_2047_characters_is_414(typed: RawApi):
    long_where = "Title = '" + "x" * 2100 + "'"
    answer = typed.get("/tables/Typed/records", params={"q.where": long_where})
    assert answer.status_code == 414
    assert answer.headers["X-Caspio-Request-ID"]


def test_all_api_prefixes_reach_the_same_data(typed: RawApi):
    typed.insert("Typed", {"Title": "shared"})
    base = typed.running.base_url
    for prefix in ("/rest/v2", "/rest/v3", "/integrations/rest/v3"):
        answer = requests.get(f"{base}{prefix}/tables/Typed/records", timeout=10,
                              headers={"Authorization": f"Bearer {typed.token}"})
        assert answer.json()["Result"][0]["Title"] == "shared"


def test_get_date_uses_the_emulator_clock():
    clock = ManualClock(start=1_767_225_600.0)  # 2026-01-01T00:00:00Z
    with run_emulator(clock=clock) as running:
        api = RawApi(running)
        api.create_table("E", [{"Name": "Due", "Type": "DATE/TIME"}])
        api.insert("E", {"Due": "2025-12-31T23:00:00"})
        api.insert("E", {"Due": "2026-01-01T01:00:00"})
        past = api.rows("E", **{"q.where": "Due < GETDATE()"})
        assert [r["Due"] for r in past] == ["2025-12-31T23:00:00"]
        clock.advance(7200)
        assert len(api.rows("E", **{"q.where": "Due < GetDate()"})) == 2
        api.close()


def test_file_database_survives_a_restart(tmp_path):
    path = str(tmp_path / "caspio.db")
    with run_emulator(db_path=path) as running:
        api = RawApi(running)
        api.create_table("Kept", [{"Name": "Name", "Type": "STRING"},
                                  {"Name": "Serial", "Type": "AUTONUMBER", "Unique": True}])
        api.insert("Kept", {"Name": "one"})
        api.close()
    with run_emulator(db_path=path) as running:
        api = RawApi(running)
        assert api.rows("Kept")[0]["Name"] == "one"
        assert api.insert("Kept", {"Name": "two"})["Serial"] == 2
        api.close()


def test_concurrent_inserts_keep_unique_keys_unique(typed: RawApi):
    from concurrent.futures import ThreadPoolExecutor

    def insert(attempt: int) -> int:
        answer = requests.post(typed.url("/tables/Typed/records"), timeout=10,
                               headers={"Authorization": f"Bearer {typed.token}"},
                               json={"Title": f"key{attempt % 4}", "Seats": attempt})
        return answer.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(insert, range(40)))
    assert statuses.count(201) == 4
    assert statuses.count(400) == 36
    rows = typed.rows("Typed", **{"q.orderBy": "Title"})
    assert [r["Title"] for r in rows] == ["key0", "key1", "key2", "key3"]
    assert len({r["Serial"] for r in rows}) == 4


def test_numbers_are_read_exactly_and_non_json_numbers_refused(typed: RawApi):
    body = '{"Title": "a", "Amount": 1234567890.1234, "Seats": 2.0}'
    answer = typed.post("/tables/Typed/records", params={"response": "rows"}, data=body,
                        headers={"Content-Type": "application/json"})
    assert answer.status_code == 201, answer.text
    assert '"Amount":1234567890.1234' in answer.text
    assert answer.json()["Result"][0]["Seats"] == 2
    for bad in ('{"Ratio": NaN}', '{"Ratio": Infinity}'):
        refused = typed.post("/tables/Typed/records", data=bad,
                             headers={"Content-Type": "application/json"})
        assert_caspio_error(refused, 400, "IncorrectBodyParameter")
