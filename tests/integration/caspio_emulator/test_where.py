"""The WHERE subset (reference §3.6): parsed into a tree, run with bound parameters.

Most cases run against ``CaspioStore`` in process (fast); the HTTP error form is checked
at the end.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.caspio import query_params, tsql
from sandbox.caspio.errors import ApiError
from sandbox.caspio.store import CaspioStore

from .conftest import RawApi, assert_caspio_error

PEOPLE = [
    {"Name": "Ann", "City": "Oslo", "Age": 31, "Score": 1.5, "Paid": 10.25, "Active": True,
     "Joined": "2024-01-15"},
    {"Name": "O'Brien", "City": "Dublin", "Age": 45, "Score": 2.0, "Paid": 0, "Active": False,
     "Joined": "2024-06-01T12:00:00"},
    {"Name": "Zoë", "City": None, "Age": None, "Score": None, "Paid": None, "Active": True,
     "Joined": None},
    {"Name": "bob ", "City": "oslo", "Age": 18, "Score": -3.25, "Paid": 99.99, "Active": False,
     "Joined": "2023-12-31T23:59:59"},
    {"Name": "50% off_sale", "City": "Rome", "Age": 60, "Score": 0.0, "Paid": 5, "Active": True,
     "Joined": "2025-02-28"},
]


@pytest.fixture(scope="module")
def store():
    store = CaspioStore()
    store.create_table("People", [
        {"Name": "Name", "Type": "STRING"}, {"Name": "City", "Type": "STRING"},
        {"Name": "Age", "Type": "INTEGER"}, {"Name": "Score", "Type": "NUMBER"},
        {"Name": "Paid", "Type": "CURRENCY"}, {"Name": "Active", "Type": "YES/NO"},
        {"Name": "Joined", "Type": "DATE/TIME"},
    ])
    for person in PEOPLE:
        store.insert("People", person)
    yield store
    store.close()


def names(store: CaspioStore, where: str) -> list[str]:
    query = query_params.parse_record_query({"q.where": where, "q.orderby": "PK_ID"}, "v3")
    return [row["Name"] for row in store.select("People", query).rows]


@pytest.mark.parametrize(("where", "expected"), [
    ("Age = 31", ["Ann"]),
    ("Age != 31", ["O'Brien", "bob ", "50% off_sale"]),
    ("Age <> 31 AND Age >= 45", ["O'Brien", "50% off_sale"]),
    ("Age < 31", ["bob "]),
    ("Age <= 31", ["Ann", "bob "]),
    ("Age > 45", ["50% off_sale"]),
    ("Score >= -3.25 AND Score < 1", ["bob ", "50% off_sale"]),
    ("Paid = 10.25", ["Ann"]),
    ("Paid > '50'", ["bob "]),
    ("Name = 'O''Brien'", ["O'Brien"]),
    ("Name = N'Zoë'", ["Zoë"]),
    ("Name = 'ann'", ["Ann"]),  # case-insensitive collation
    ("Name = 'bob'", ["bob "]),  # trailing spaces ignored by =
    ("City = 'OSLO'", ["Ann", "bob "]),
    ("[City] = 'Rome'", ["50% off_sale"]),
    ("city = 'Rome'", ["50% off_sale"]),  # names are case-insensitive in SQL
    ("Name LIKE 'a%'", ["Ann"]),
    ("Name LIKE '%''%'", ["O'Brien"]),
    ("Name LIKE '_o%'", ["Zoë", "bob "]),
    ("Name LIKE '[ab]%'", ["Ann", "bob "]),
    ("Name LIKE '[^ab]%'", ["O'Brien", "Zoë", "50% off_sale"]),
    ("Name LIKE '%[%]%'", ["50% off_sale"]),
    ("Name LIKE '%!_%' ESCAPE '!'", ["50% off_sale"]),
    ("Name NOT LIKE '%o%'", ["Ann"]),
    ("City IS NULL", ["Zoë"]),
    ("City IS NOT NULL AND Age IS NULL", []),
    ("Age IN (18, 60)", ["bob ", "50% off_sale"]),
    ("City NOT IN ('Oslo', 'Rome')", ["O'Brien"]),
    ("Age BETWEEN 18 AND 31", ["Ann", "bob "]),
    ("Age NOT BETWEEN 18 AND 31", ["O'Brien", "50% off_sale"]),
    ("Joined BETWEEN '2024-01-01' AND '2024-12-31'", ["Ann", "O'Brien"]),
    ("Joined >= '2024-06-01 12:00'", ["O'Brien", "50% off_sale"]),
    ("Joined < '01/01/2024'", ["bob "]),
    ("Active = 1", ["Ann", "Zoë", "50% off_sale"]),
    ("Active = 'false'", ["O'Brien", "bob "]),
    ("NOT Active = 1 OR Age = 31", ["Ann", "O'Brien", "bob "]),
    ("(Age = 31 OR Age = 45) AND City = 'Dublin'", ["O'Brien"]),
    ("Age = 31 OR Age = 45 AND City = 'Dublin'", ["Ann", "O'Brien"]),  # AND binds tighter
    ("NOT (Age > 20)", ["bob "]),
    ("1 = 1 AND Age = 18", ["bob "]),
    ("'a' = 'A' AND Age = 18", ["bob "]),
    ("City = NULL", []),  # ANSI NULLS: nothing equals NULL
    ("Age = -18 OR Age = +18", ["bob "]),
    ("PK_ID > 4", ["50% off_sale"]),
])
def test_where_subset(store: CaspioStore, where: str, expected: list[str]):
    assert names(store, where) == expected


@pytest.mark.parametrize(("where", "code", "fragment"), [
    ("Age = ", "SqlServerError", "Incorrect syntax near"),
    ("Age == 1", "SqlServerError", "Incorrect syntax near '='"),
    ("Name = 'open", "SqlServerError", "Unclosed quotation mark"),
    ("Age = 1)", "SqlServerError", "Incorrect syntax near ')'"),
    ("(Age = 1", "SqlServerError", "Incorrect syntax near"),
    ("Age", "SqlServerError", "Incorrect syntax near"),
    ("Age = 1; DROP TABLE People", "SqlServerError", "Incorrect syntax near ';'"),
    ("Nope = 1", "SqlServerError", "Invalid column name 'Nope'"),
    ("Age = 'abc'", "SqlServerError", "converting"),
    ("Joined = 'someday'", "SqlServerError", "Conversion failed"),
    ("Active = 'maybe'", "SqlServerError", "Conversion failed"),
    ("COUNT(*) > 1", "SqlServerError", "aggregate"),
    ("Name = 'x' -- comment", "IncorrectQueryParameter", "comment"),
    ("Name = 'x' /* c */", "IncorrectQueryParameter", "comment"),
    ("Age IN (SELECT 1)", "IncorrectQueryParameter", "subquery"),
    ("EXISTS (SELECT 1)", "IncorrectQueryParameter", "subquery"),
    ("Age + 1 = 2", "IncorrectQueryParameter", "Arithmetic"),
    ("LEN(Name) = 3", "IncorrectQueryParameter", "LEN()"),
    ("Age = @x", "IncorrectQueryParameter", "variable"),
    ("People.Age = 1", "IncorrectQueryParameter", "qualified"),
    ("Name LIKE 'a' ESCAPE 'ab'", "SqlServerError", "escape"),
])
def test_unsupported_or_bad_where_is_a_400(store: CaspioStore, where: str, code: str,
                                           fragment: str):
    with pytest.raises(ApiError) as caught:
        names(store, where)
    assert (caught.value.status, caught.value.code) == (400, code)
    assert fragment.lower() in caught.value.message.lower()


def test_the_tree_keeps_values_out_of_the_sql_text():
    tree = tsql.parse_where("Name = N'x'' OR 1=1 --' AND Age IN (1, 2.5)")
    assert tree == tsql.And((
        tsql.Compare("=", tsql.Column("Name"), tsql.Literal("x' OR 1=1 --")),
        tsql.In(tsql.Column("Age"), (tsql.Literal(1), tsql.Literal(tsql.Decimal("2.5"))),
                negated=False),
    ))


def test_injection_attempts_are_only_data(store: CaspioStore):
    attempts = ["' OR '1'='1", "x'; DELETE FROM People; --", "\" OR 1=1", "Robert'); DROP"]
    for text in attempts:
        escaped = text.replace("'", "''")
        assert names(store, f"Name = '{escaped}'") == []
    assert len(names(store, "PK_ID > 0")) == len(PEOPLE)


def test_bad_where_over_http_uses_the_documented_error(api: RawApi):
    api.create_table("T", [{"Name": "A", "Type": "INTEGER"}])
    answer = api.get("/tables/T/records", params={"q.where": "A = = 1"})
    body = assert_caspio_error(answer, 400, "SqlServerError")
    assert body["Message"] == "Incorrect syntax near '='."
    unsupported = api.delete("/tables/T/records", params={"q.where": "A IN (SELECT A FROM T)"})
    assert_caspio_error(unsupported, 400, "IncorrectQueryParameter")


_WHERE_PIECES = st.sampled_from([
    "Name", "Age", "Paid", "Joined", "Active", "PK_ID", "[City]", "=", "<>", "!=", "<", ">=",
    "LIKE", "NOT", "AND", "OR", "IS", "NULL", "IN", "BETWEEN", "ESCAPE", "(", ")", ",", "'a'",
    "'O''Brien'", "N'Zoë'", "'%'", "'2024-01-01'", "1", "-2.5", "1e3", "GETDATE()", "COUNT(*)",
    "'", ";", "--", "*", "+", "@x", ".", "[", "]",
])


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.lists(_WHERE_PIECES, max_size=12).map(" ".join), st.text(max_size=40)))
def test_any_where_text_gives_rows_or_a_400(store: CaspioStore, where: str):
    """Fuzz: the parser and compiler never crash, whatever the text."""
    try:
        names(store, where)
    except ApiError as error:
        assert error.status == 400


_CLAUSE_PIECES = st.sampled_from([
    "Name", "Age", "Paid", "Active", "Joined", "PK_ID", "Nope", "*", ",", "AS", "x", "DISTINCT",
    "COUNT(*)", "SUM(Paid)", "AVG(Age)", "MIN(Name)", "MAX(Joined)", "SUM(Name)",
    "COUNT(DISTINCT City)", "ASC", "DESC", "(", ")", "'t'", "LEN(Name)", "1",
])
_CLAUSES = st.lists(_CLAUSE_PIECES, max_size=6).map(" ".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(select=_CLAUSES, order=_CLAUSES, group=_CLAUSES)
def test_any_select_order_and_group_text_is_answered(store: CaspioStore, select: str,
                                                     order: str, group: str):
    """Fuzz: rows, a 400, or the observed 500 for an unknown q.select field; no crash."""
    params = {"q.select": select, "q.orderby": order, "q.groupby": group}
    try:
        query = query_params.parse_record_query(params, "v3")
        store.select("People", query)
    except ApiError as error:
        assert error.status == 400 or (error.status == 500 and error.code == "InternalError")
