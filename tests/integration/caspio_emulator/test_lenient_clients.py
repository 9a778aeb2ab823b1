"""What Caspio's own clients send: values as JSON strings (its n8n node), query
parameters without the ``q.`` prefix, and the status line's reason phrase."""

from __future__ import annotations

import http.client
from typing import Any
from urllib.parse import urlsplit

import pytest

from .conftest import RawApi, assert_caspio_error
from .test_records import ALL_TYPES


@pytest.fixture
def typed(api: RawApi) -> RawApi:
    api.create_table("Typed", ALL_TYPES)
    return api


def test_string_encoded_values_are_converted(typed: RawApi):
    row = typed.insert("Typed", {
        "Title": "n8n", "Seats": "7", "Ratio": " 2.25 ", "Amount": "12.50",
        "Active": "true", "Starts": "2026-04-01",
    })
    assert (row["Seats"], row["Ratio"], row["Amount"]) == (7, 2.25, 12.5)
    assert row["Active"] is True and row["Starts"] == "2026-04-01T00:00:00"
    off = typed.insert("Typed", {"Title": "off", "Active": "FALSE", "Amount": "0.1"})
    assert off["Active"] is False and off["Amount"] == 0.1
    one = typed.insert("Typed", {"Title": "one", "Active": "1", "Seats": "-3"})
    assert (one["Active"], one["Seats"]) == (True, -3)
    blank = typed.insert("Typed", {"Title": "blank", "Seats": "", "Amount": " "})
    assert (blank["Seats"], blank["Amount"]) == (None, None)
    # An update converts the same way.
    answer = typed.put("/tables/Typed/records", params={"where": "Title = 'n8n'"},
                       json={"Seats": "8", "Active": "0"})
    assert answer.status_code == 200, answer.text
    assert [(r["Seats"], r["Active"]) for r in typed.rows("Typed", where="Title = 'n8n'")] == [
        (8, False)
    ]


@pytest.mark.parametrize("values", [
    {"Seats": "7.5"},
    {"Seats": "seven"},
    {"Amount": "12,50"},
    {"Ratio": "NaN"},
    {"Active": "yes"},
    {"Active": "2"},
])
def test_unconvertible_strings_get_caspios_error(typed: RawApi, values: dict[str, Any]):
    answer = typed.post("/tables/Typed/records", json={"Title": "x", **values})
    body = assert_caspio_error(answer, 400, "InvalidInputValue")
    assert list(values)[0] in body["Message"]
    assert typed.rows("Typed") == []


def test_unprefixed_query_parameters_work_like_q_ones(typed: RawApi):
    for i in range(12):
        typed.insert("Typed", {"Title": f"t{i:02d}", "Seats": i})
    plain = typed.rows("Typed", select="Title,Seats", where="Seats >= 3", orderBy="Seats DESC",
                       pageSize=5, pageNumber=2)
    prefixed = typed.rows("Typed", **{"q.select": "Title,Seats", "q.where": "Seats >= 3",
                                      "q.orderBy": "Seats DESC", "q.pageSize": 5,
                                      "q.pageNumber": 2})
    assert plain == prefixed == [{"Title": f"t{i:02d}", "Seats": i} for i in (6, 5, 4, 3)]
    assert len(typed.rows("Typed", limit=3)) == 3
    grouped = typed.rows("Typed", select="COUNT(PK_ID) AS N", groupBy="Active")
    assert grouped == [{"N": 12}]
    # The q. form wins when both are given.
    both = typed.rows("Typed", **{"q.limit": 2, "limit": 7})
    assert len(both) == 2
    paged = typed.get("/tables/Typed/records",
                      params={"pageSize": 5, "getPaginationInfo": "true"}).json()
    assert paged["Pagination"]["TotalCount"] == 12 and len(paged["Result"]) == 5
    deleted = typed.delete("/tables/Typed/records", params={"where": "Seats < 2"})
    assert deleted.status_code == 200, deleted.text
    assert len(typed.rows("Typed")) == 10


def _status_line(api: RawApi, method: str, path: str, body: str | None = None) -> str:
    url = urlsplit(api.url(path))
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/json"}
        conn.request(method, url.path, body=body, headers=headers)
        answer = conn.getresponse()
        answer.read()
        return f"{answer.status} {answer.reason}"
    finally:
        conn.close()


def test_reason_phrases_are_the_ordinary_ones(typed: RawApi):
    assert _status_line(typed, "POST", "/tables/Typed/records", '{"Title": "a"}') == "201 Created"
    assert _status_line(typed, "GET", "/tables/Typed/records") == "200 OK"
    assert _status_line(typed, "GET", "/tables/Nope/records") == "404 Not Found"
    assert _status_line(typed, "POST", "/tables/Typed/records", '{"Seats": "x"}') == (
        "400 Bad Request"
    )
