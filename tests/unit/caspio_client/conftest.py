"""A small fake Caspio account behind `responses`, speaking the wire formats of the reference."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

from caspio_client import CaspioClient

ACCOUNT = "https://c1abc123.caspio.com"
V3 = ACCOUNT + "/integrations/rest/v3"
V2 = ACCOUNT + "/rest/v2"
TOKEN_URL = ACCOUNT + "/oauth/token"
CLIENT_ID = "profile-id-123"
CLIENT_SECRET = "s3cr3t-never-shown"

Reply = tuple[int, dict[str, str], str]


def records_url(table: str, base: str = V3) -> re.Pattern[str]:
    return re.compile(re.escape(f"{base}/tables/{table}/records") + r"(\?.*)?$")


def query(request: requests.PreparedRequest) -> dict[str, str]:
    """The decoded query string of a request (`+` decodes to a space, as on Caspio)."""
    return {k: v[0] for k, v in parse_qs(urlsplit(request.url or "").query).items()}


def bearer(request: requests.PreparedRequest) -> str:
    return str(request.headers.get("Authorization", "")).removeprefix("Bearer ")


class RequestIds:
    """Hands out the X-Caspio-Request-ID of each fake answer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._n = 0
        self.issued: list[str] = []

    def next(self) -> str:
        with self._lock:
            self._n += 1
            rid = f"req-{self._n:05d}"
            self.issued.append(rid)
            return rid


REQUEST_IDS = RequestIds()


def reply(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Reply:
    all_headers = {"X-Caspio-Request-ID": REQUEST_IDS.next(), "Content-Type": "application/json"}
    all_headers.update(headers or {})
    text = "" if body is None else json.dumps(body)
    return status, all_headers, text


def caspio_error(status: int, code: str, message: str, **headers: str) -> Reply:
    """The documented error body {Code, Message, Resource, RequestId}, id also in the header."""
    rid = REQUEST_IDS.next()
    body = {"Code": code, "Message": message, "Resource": "/v3/tables/T/records", "RequestId": rid}
    return status, {"X-Caspio-Request-ID": rid, **headers}, json.dumps(body)


@dataclass
class TokenServer:
    """POST /oauth/token: issues tok-1, tok-2, ... and remembers each form body."""

    expires_in: int = 86399
    refuse: bool = False
    forms: list[dict[str, str]] = field(default_factory=list)
    issued: list[str] = field(default_factory=list)
    before_answer: Callable[[], object] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: requests.PreparedRequest) -> Reply:
        form = {k: v[0] for k, v in parse_qs(str(request.body or "")).items()}
        if self.before_answer:
            self.before_answer()
        with self._lock:
            self.forms.append(form)
            if self.refuse:
                return reply(401, {"error": "invalid_client"})
            token = f"tok-{len(self.issued) + 1}"
            self.issued.append(token)
        return reply(
            200,
            {
                "access_token": token,
                "token_type": "bearer",
                "expires_in": self.expires_in,
                "refresh_token": "a" * 64,
            },
        )


class FakeClock:
    """A monotonic clock that only moves when the client 'sleeps'."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def mocked() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as rsps:
        yield rsps


@pytest.fixture
def tokens(mocked: responses.RequestsMock) -> TokenServer:
    server = TokenServer()
    mocked.add_callback(responses.POST, TOKEN_URL, callback=server)
    return server


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_client(clock: FakeClock) -> Iterator[Callable[..., CaspioClient]]:
    made: list[CaspioClient] = []

    def make(**kwargs: Any) -> CaspioClient:
        kwargs.setdefault("sleep", clock.sleep)
        kwargs.setdefault("clock", clock)
        client = CaspioClient(ACCOUNT, CLIENT_ID, CLIENT_SECRET, **kwargs)
        made.append(client)
        return client

    yield make
    for client in made:
        client.close()


@pytest.fixture
def client(make_client: Callable[..., CaspioClient], tokens: TokenServer) -> CaspioClient:
    return make_client()


_SIMPLE_EQ = re.compile(r"^([A-Za-z][A-Za-z0-9_]*) = (N?'((?:[^']|'')*)'|-?\d+)$")


class FakeTable:
    """GET/POST/PUT/DELETE /tables/{name}/records over an in-memory list of rows.

    Understands only `Field = literal` WHERE clauses (enough for these tests), pages with
    q.pageNumber/q.pageSize ordered by PK_ID, and enforces one unique field.
    """

    def __init__(self, name: str, rows: int = 0, unique: str | None = None) -> None:
        self.name = name
        self.unique = unique
        self.rows: list[dict[str, Any]] = []
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        #: Answers (or exceptions) to give before handling, one per request.
        self.faults: list[Reply | Exception] = []
        #: Store the next insert, then answer with this failure (a lost answer, a 5xx).
        self.lose_next_insert_answer: Reply | Exception | None = None
        self._lock = threading.Lock()
        for i in range(rows):
            self._store({"Name": f"row {i + 1}"})

    def _store(self, values: dict[str, Any]) -> dict[str, Any]:
        row = {"PK_ID": len(self.rows) + 1, **values}
        self.rows.append(row)
        return row

    def matching(self, where: str | None) -> list[dict[str, Any]]:
        if where is None:
            return list(self.rows)
        m = _SIMPLE_EQ.match(where)
        assert m, f"fake table cannot evaluate {where!r}"
        name, raw, text = m.groups()
        value: Any = text.replace("''", "'") if text is not None else int(raw)
        return [r for r in self.rows if r.get(name) == value]

    def __call__(self, request: requests.PreparedRequest) -> Reply | Exception:
        with self._lock:
            params = query(request)
            body = json.loads(request.body) if request.body else None
            self.requests.append((str(request.method), params, body))
            if self.faults:
                return self.faults.pop(0)
            return self._handle(str(request.method), params, body)

    def _handle(self, method: str, params: dict[str, str], body: Any) -> Reply | Exception:
        where = params.get("q.where")
        if method == "GET":
            assert params.get("q.orderBy") == "PK_ID"
            rows = sorted(self.matching(where), key=lambda r: r["PK_ID"])
            if "q.pageSize" in params:
                size, number = int(params["q.pageSize"]), int(params.get("q.pageNumber", 1))
                rows = rows[(number - 1) * size : number * size]
            else:
                rows = rows[: int(params.get("q.limit", 100))]
            return reply(200, {"Result": rows})
        if method == "POST":
            if self.unique and any(r.get(self.unique) == body.get(self.unique) for r in self.rows):
                return caspio_error(
                    400,
                    "SqlServerError",
                    "Violation of UNIQUE KEY constraint 'UQ_Key'. Cannot insert duplicate key "
                    f"in object 'dbo.{self.name}'. The duplicate key value is (x).",
                )
            row = self._store(body)
            if self.lose_next_insert_answer is not None:
                lost, self.lose_next_insert_answer = self.lose_next_insert_answer, None
                return lost
            result = {"Result": [row]} if params.get("response") == "rows" else None
            return reply(201, result)
        if method == "PUT":
            hits = self.matching(where)
            for row in hits:
                row.update(body)
            return reply(200, {"RecordsAffected": len(hits), "Result": []})
        if method == "DELETE":
            if where is None:
                return caspio_error(400, "IncorrectQueryParameter", "q.where is required")
            hits = self.matching(where)
            self.rows = [r for r in self.rows if r not in hits]
            return reply(200, {"RecordsAffected": len(hits)})
        raise AssertionError(method)


@pytest.fixture
def add_table(mocked: responses.RequestsMock) -> Callable[..., FakeTable]:
    def add(name: str, rows: int = 0, unique: str | None = None, base: str = V3) -> FakeTable:
        table = FakeTable(name, rows, unique)
        for method in ("GET", "POST", "PUT", "DELETE"):
            mocked.add_callback(method, records_url(name, base), callback=table)
        return table

    return add
