"""Records: paging, select/get_one/insert/update/delete on the wire."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import requests
import responses

from caspio_client import CaspioAlreadyExists, CaspioClient, CaspioNotFound
from caspio_client import where as w

from .conftest import V2, FakeTable, TokenServer, query, records_url, reply


def test_2500_rows_are_read_in_exactly_3_calls(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Subscriptions", rows=2500)
    rows = list(client.select("Subscriptions"))
    assert [r["PK_ID"] for r in rows] == list(range(1, 2501))
    assert [(m, p["q.pageNumber"], p["q.pageSize"]) for m, p, _ in table.requests] == [
        ("GET", "1", "1000"),
        ("GET", "2", "1000"),
        ("GET", "3", "1000"),
    ]
    assert all(p["q.orderBy"] == "PK_ID" for _, p, _ in table.requests)
    assert all("q.getPaginationInfo" not in p and "q.limit" not in p for _, p, _ in table.requests)
    assert client.meter.snapshot() == {("POST", "oauth", 200): 1, ("GET", "Subscriptions", 200): 3}


def test_exact_multiple_of_page_size_needs_one_empty_page(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=10)
    assert len(list(client.select("Plans", page_size=5))) == 10
    assert [p["q.pageNumber"] for _, p, _ in table.requests] == ["1", "2", "3"]


def test_select_is_lazy(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=30)
    rows = client.select("Plans", page_size=10)
    assert table.requests == []
    assert next(rows)["PK_ID"] == 1
    assert len(table.requests) == 1


def test_select_sends_where_fields_and_order(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    seen: list[dict[str, str]] = []

    def answer(request: requests.PreparedRequest) -> tuple[int, dict[str, str], str]:
        seen.append(query(request))
        return reply(200, {"Result": [{"PlanKey": "gold", "Amount": 10}]})

    mocked.add_callback("GET", records_url("Billing_Plans"), callback=answer)
    rows = list(
        client.select(
            "Billing_Plans",
            where=w.and_(w.eq("Name", "O'Brien"), w.eq("Note", "' OR 1=1 --")),
            fields=["PlanKey", "Amount"],
            order_by="PlanKey desc, PK_ID",
        )
    )
    assert rows == [{"PlanKey": "gold", "Amount": 10}]
    assert seen == [
        {
            "q.where": "(Name = 'O''Brien') AND (Note = ''' OR 1=1 --')",
            "q.select": "PlanKey,Amount",
            "q.orderBy": "PlanKey DESC, PK_ID",
            "q.pageNumber": "1",
            "q.pageSize": "1000",
        }
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"fields": ["PlanKey", "Amount; DROP TABLE x"]},
        {"fields": "PlanKey"},
        {"order_by": "PK_ID; DROP TABLE x"},
        {"order_by": "(SELECT 1)"},
        {"page_size": 4},
        {"page_size": 1001},
        {"where": "PK_ID = 1"},
    ],
)
def test_select_refuses_unsafe_arguments_before_any_call(
    client: CaspioClient, tokens: TokenServer, kwargs: dict[str, object]
) -> None:
    with pytest.raises((ValueError, TypeError)):
        list(client.select("Plans", **kwargs))  # type: ignore[arg-type]
    assert client.meter.total() == 0


def test_a_name_with_a_quote_is_matched_literally_on_the_wire(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("People", unique="Name")
    for name in ["O'Brien", "' OR 1=1 --", "Smith"]:
        client.insert("People", {"Name": name})
    assert client.get_one("People", w.eq("Name", "' OR 1=1 --")) == {
        "PK_ID": 2,
        "Name": "' OR 1=1 --",
    }
    assert client.get_one("People", w.eq("Name", "O'Brien")) == {"PK_ID": 1, "Name": "O'Brien"}
    assert client.delete("People", w.eq("Name", "' OR 1=1 --")) == 1
    assert [r["Name"] for r in table.rows] == ["O'Brien", "Smith"]


def test_get_one_returns_none_when_nothing_matches(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=2)
    assert client.get_one("Plans", w.eq("PK_ID", 99)) is None
    assert table.requests[0][1]["q.limit"] == "1"


def test_insert_returns_the_stored_row(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", unique="PlanKey")
    row = client.insert("Plans", {"PlanKey": "gold", "Amount": 1000})
    assert row == {"PK_ID": 1, "PlanKey": "gold", "Amount": 1000}
    method, params, body = table.requests[0]
    assert (method, params, body) == (
        "POST",
        {"response": "rows"},
        {"PlanKey": "gold", "Amount": 1000},
    )


def test_insert_of_an_existing_key_raises_already_exists(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    add_table("Plans", unique="PlanKey")
    client.insert("Plans", {"PlanKey": "gold"})
    with pytest.raises(CaspioAlreadyExists) as info:
        client.insert("Plans", {"PlanKey": "gold"})
    assert info.value.status == 400
    assert info.value.code == "SqlServerError"
    assert info.value.after_retry is False
    assert info.value.retryable is False


def test_update_returns_records_affected(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=3)
    assert client.update("Plans", w.eq("Name", "row 2"), {"Name": "renamed"}) == 1
    assert client.update("Plans", w.eq("Name", "missing"), {"Name": "x"}) == 0
    assert table.rows[1]["Name"] == "renamed"
    method, params, body = table.requests[0]
    assert (method, params["q.where"], body) == ("PUT", "Name = 'row 2'", {"Name": "renamed"})


@pytest.mark.parametrize("bad_where", [None, w.Where(""), w.Where("   "), "PK_ID > 0"])
def test_delete_and_update_refuse_an_empty_or_raw_where(
    client: CaspioClient,
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
    bad_where: object,
) -> None:
    table = add_table("Plans", rows=3)
    with pytest.raises((ValueError, TypeError)):
        client.delete("Plans", bad_where)  # type: ignore[arg-type]
    with pytest.raises((ValueError, TypeError)):
        client.update("Plans", bad_where, {"Name": "x"})  # type: ignore[arg-type]
    assert len(table.rows) == 3
    assert client.meter.total() == 0


def test_delete_returns_records_affected(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=3)
    assert client.delete("Plans", w.eq("PK_ID", 2)) == 1
    assert client.delete("Plans", w.eq("PK_ID", 2)) == 0
    assert [r["PK_ID"] for r in table.rows] == [1, 3]


def test_unknown_table_is_not_found(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    mocked.add(
        "GET",
        records_url("Nope"),
        json={"Code": "ObjectNotFound", "Message": "Requested object not found"},
        status=404,
        headers={"X-Caspio-Request-ID": "rid-404"},
    )
    with pytest.raises(CaspioNotFound) as info:
        list(client.select("Nope"))
    assert (info.value.code, info.value.request_id, info.value.table) == (
        "ObjectNotFound",
        "rid-404",
        "Nope",
    )


def test_v2_uses_the_rest_v2_prefix(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
) -> None:
    table = add_table("Plans", rows=7, base=V2)
    client = make_client(api_version="v2")
    assert client.base_url == "https://c1abc123.caspio.com/rest/v2"
    assert len(list(client.select("Plans", page_size=5))) == 7
    assert all("q.getPaginationInfo" not in p for _, p, _ in table.requests)


def test_table_names_are_escaped_in_the_path(
    client: CaspioClient, tokens: TokenServer, mocked: responses.RequestsMock
) -> None:
    mocked.add("GET", records_url("a%2Fb"), json={"Result": []})
    assert list(client.select("a/b")) == []


def test_account_url_forms() -> None:
    with CaspioClient("c1abc123.caspio.com", "i", "s") as v3:
        assert v3.base_url == "https://c1abc123.caspio.com/integrations/rest/v3"
    with CaspioClient("http://127.0.0.1:8080/", "i", "s", "v2") as v2:
        assert v2.token_url == "http://127.0.0.1:8080/oauth/token"
    with pytest.raises(ValueError):
        CaspioClient("c1abc123.caspio.com", "i", "s", api_version="v4")
