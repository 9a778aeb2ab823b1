"""``CaspioClient``: records, tables and fields over the Caspio REST API v3 or v2."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from . import where as w
from .auth import TokenProvider, fetch_client_credentials_token
from .classify import error_from_response, is_stale_token_answer, parse_body
from .errors import CaspioAlreadyExists, CaspioError
from .metering import CallMeter
from .retry import RetryPolicy
from .transport import Transport

__all__ = ["API_PREFIXES", "CaspioClient"]

#: REST prefix of each supported version; records/tables/fields paths are the same below it.
API_PREFIXES = {"v3": "/integrations/rest/v3", "v2": "/rest/v2"}
#: Caspio accepts q.pageSize from 5 to 1000 (400 IncorrectQueryParameter otherwise).
MIN_PAGE_SIZE, MAX_PAGE_SIZE = 5, 1000
_ORDER_TERM = re.compile(r"\s*([A-Za-z][A-Za-z0-9_]{0,63})(?:\s+(ASC|DESC))?\s*", re.IGNORECASE)


@dataclass
class _CallState:
    """What one logical call has been through, across its retries."""

    token_refreshed: bool = False
    maybe_applied: bool = False


class CaspioClient:
    """A Caspio REST client: cached token, safe WHERE, bounded retries, metered calls."""

    def __init__(
        self,
        account_url: str,
        client_id: str,
        client_secret: str,
        api_version: str = "v3",
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_retry_seconds: float = 60.0,
        session: requests.Session | None = None,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        token_refresh_margin: float = 300.0,
        meter: CallMeter | None = None,
        retry_policy: RetryPolicy | None = None,
    ) -> None:
        if api_version not in API_PREFIXES:
            raise ValueError(f"api_version must be one of {sorted(API_PREFIXES)}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        self.account_url = _normalise_account_url(account_url)
        self.api_version = api_version
        self.base_url = self.account_url + API_PREFIXES[api_version]
        self.token_url = self.account_url + "/oauth/token"
        self.meter = meter if meter is not None else CallMeter()
        self._owns_session = session is None
        self._transport = Transport(session or requests.Session(), timeout, self.meter)
        self.retry_policy = retry_policy or RetryPolicy(
            max_attempts=max_attempts, max_seconds=max_retry_seconds, sleep=sleep, clock=clock
        )
        transport = self._transport
        token_url = self.token_url
        self._tokens = TokenProvider(
            # The secret lives only inside this closure: not an attribute, never in a repr.
            lambda: fetch_client_credentials_token(transport, token_url, client_id, client_secret),
            refresh_margin=token_refresh_margin,
            clock=clock,
        )

    def __repr__(self) -> str:
        return f"CaspioClient({self.account_url!r}, api_version={self.api_version!r})"

    def close(self) -> None:
        if self._owns_session:
            self._transport.session.close()

    def __enter__(self) -> CaspioClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----------------------------------------------------------------- records

    def select(
        self,
        table: str,
        where: w.Where | None = None,
        fields: Sequence[str] | None = None,
        order_by: str = "PK_ID",
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[dict[str, Any]]:
        """Yield every matching row, one page request at a time.

        Always sends ``q.orderBy``: unordered paging skips or repeats rows. A page shorter
        than ``page_size`` is the last one.
        """
        if not MIN_PAGE_SIZE <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be {MIN_PAGE_SIZE}..{MAX_PAGE_SIZE}")
        params = self._query_params(where, fields, order_by)
        return self._pages(table, params, page_size)

    def _pages(
        self, table: str, params: dict[str, Any], page_size: int
    ) -> Iterator[dict[str, Any]]:
        page_number = 1
        while True:
            page_params = {**params, "q.pageNumber": page_number, "q.pageSize": page_size}
            rows = self._result_rows(self._records_call("GET", table, params=page_params))
            yield from rows
            if len(rows) < page_size:
                return
            page_number += 1

    def get_one(
        self,
        table: str,
        where: w.Where,
        fields: Sequence[str] | None = None,
        order_by: str = "PK_ID",
    ) -> dict[str, Any] | None:
        """The first matching row by ``order_by``, or None."""
        _required_where(where, "get_one")
        params = self._query_params(where, fields, order_by)
        params["q.limit"] = 1
        rows = self._result_rows(self._records_call("GET", table, params=params))
        return rows[0] if rows else None

    def insert(
        self, table: str, values: Mapping[str, Any], *, retry_ambiguous: bool = True
    ) -> dict[str, Any]:
        """Insert one row and return it as stored (``response=rows``).

        Raises ``CaspioAlreadyExists`` on a unique-key conflict; ``after_retry`` is set when an
        earlier attempt may have stored the row. Pass ``retry_ambiguous=False`` for tables
        without a unique key: then a failure that may have been applied is not resent.
        """
        response = self._write_call(
            "POST",
            table,
            self._records_path(table),
            retry_ambiguous,
            params={"response": "rows"},
            json=dict(values),
        )
        rows = self._result_rows(response)
        # A view whose filter excludes the new row answers with an empty Result.
        return rows[0] if rows else {}

    def update(self, table: str, where: w.Where, values: Mapping[str, Any]) -> int:
        """Set ``values`` on every matching row; returns RecordsAffected."""
        if not values:
            raise ValueError("update needs at least one value")
        params = {"q.where": _required_where(where, "update")}
        response = self._records_call("PUT", table, params=params, json=dict(values))
        return _records_affected(response)

    def delete(self, table: str, where: w.Where) -> int:
        """Delete every matching row; returns RecordsAffected. Refuses an empty where."""
        params = {"q.where": _required_where(where, "delete")}
        return _records_affected(self._records_call("DELETE", table, params=params))

    # ------------------------------------------------------------ tables, fields

    def list_tables(self) -> list[str]:
        body = parse_body(self._call("GET", "", "/tables"))
        return list(_result(body) or [])

    def describe_table(self, table: str) -> dict[str, Any]:
        body = parse_body(self._call("GET", table, f"/tables/{_segment(table)}"))
        return dict(_result(body) or {})

    def list_fields(self, table: str) -> list[dict[str, Any]]:
        body = parse_body(self._call("GET", table, f"/tables/{_segment(table)}/fields"))
        return list(_result(body) or [])

    def create_table(self, name: str, fields: list[dict[str, Any]]) -> None:
        """Create a table. v3 takes ``{"Name", "Fields"}``, v2 ``{"Name", "Columns"}``."""
        key = "Fields" if self.api_version == "v3" else "Columns"
        self._write_call("POST", name, "/tables", True, json={"Name": name, key: fields})

    def add_field(self, table: str, field: dict[str, Any]) -> None:
        """Add one field (a Caspio FieldModel); an existing field raises CaspioAlreadyExists."""
        path = f"/tables/{_segment(table)}/fields"
        self._write_call("POST", table, path, True, json=field)

    # ---------------------------------------------------------------- plumbing

    def _query_params(
        self, where: w.Where | None, fields: Sequence[str] | None, order_by: str
    ) -> dict[str, Any]:
        params: dict[str, Any] = {}
        if where is not None:
            params["q.where"] = _where_sql(where)
        if fields:
            if isinstance(fields, str):
                raise TypeError("fields must be a list of names, not a string")
            params["q.select"] = ",".join(w.field(name) for name in fields)
        params["q.orderBy"] = _order_by(order_by)
        return params

    @staticmethod
    def _records_path(table: str) -> str:
        return f"/tables/{_segment(table)}/records"

    def _records_call(self, method: str, table: str, **kwargs: Any) -> requests.Response:
        return self._call(method, table, self._records_path(table), **kwargs)

    @staticmethod
    def _result_rows(response: requests.Response) -> list[dict[str, Any]]:
        return list(_result(parse_body(response)) or [])

    def _write_call(
        self, method: str, table: str, path: str, retry_ambiguous: bool, **kwargs: Any
    ) -> requests.Response:
        """A non-idempotent write: a unique conflict on a resend means "already exists"."""
        state = _CallState()
        try:
            return self._call(
                method, table, path, state=state, retry_ambiguous=retry_ambiguous, **kwargs
            )
        except CaspioAlreadyExists as exc:
            exc.after_retry = state.maybe_applied
            raise

    def _call(
        self,
        method: str,
        table: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        json: Any = None,
        state: _CallState | None = None,
        retry_ambiguous: bool = True,
    ) -> requests.Response:
        call_state = state or _CallState()
        url = self.base_url + path

        def attempt() -> requests.Response:
            try:
                return self._send_with_token(method, url, table, params, json, call_state)
            except CaspioError as exc:
                call_state.maybe_applied = call_state.maybe_applied or exc.maybe_applied
                raise

        def should_retry(exc: BaseException) -> bool:
            if not isinstance(exc, CaspioError) or not exc.retryable:
                return False
            return retry_ambiguous or not exc.maybe_applied

        return self.retry_policy.call(attempt, should_retry)

    def _send_with_token(
        self,
        method: str,
        url: str,
        table: str,
        params: dict[str, Any] | None,
        json: Any,
        state: _CallState,
    ) -> requests.Response:
        token = self._token()
        response = self._send(method, url, table, token, params, json)
        if response.ok:
            return response
        error = error_from_response(response, method, table)
        if is_stale_token_answer(error) and not state.token_refreshed:
            # Once per logical call: a new token, then the same request again.
            state.token_refreshed = True
            self._tokens.invalidate(token)
            token = self._token()
            response = self._send(method, url, table, token, params, json)
            if response.ok:
                return response
            error = error_from_response(response, method, table)
        raise error

    def _token(self) -> str:
        try:
            return self._tokens.get()
        except CaspioError as exc:
            # Only the token request failed: the call itself was not sent, so resending is safe.
            exc.maybe_applied = False
            raise

    def _send(
        self,
        method: str,
        url: str,
        table: str,
        token: str,
        params: dict[str, Any] | None,
        json: Any,
    ) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        return self._transport.send(method, url, table, headers=headers, params=params, json=json)


def _normalise_account_url(account_url: str) -> str:
    url = account_url.strip().rstrip("/")
    if not url:
        raise ValueError("account_url is empty")
    if "://" not in url:
        url = "https://" + url
    return url


def _segment(name: str) -> str:
    if not name:
        raise ValueError("table name is empty")
    return quote(name, safe="")


def _where_sql(where: w.Where) -> str:
    if not isinstance(where, w.Where):
        # Plain strings are refused so no caller can paste raw values into a clause.
        raise TypeError(f"where must be a caspio_client.where.Where, not {type(where).__name__}")
    return where.sql


def _required_where(where: w.Where | None, operation: str) -> str:
    sql = _where_sql(where) if where is not None else ""
    if not sql.strip():
        raise ValueError(f"{operation} refuses an empty where")
    return sql


def _order_by(order_by: str) -> str:
    terms = order_by.split(",")
    rendered = []
    for term in terms:
        match = _ORDER_TERM.fullmatch(term)
        if not match:
            raise ValueError(f"not a valid order_by: {order_by!r}")
        name, direction = match.groups()
        rendered.append(f"{name} {direction.upper()}" if direction else name)
    return ", ".join(rendered)


def _result(body: Any) -> Any:
    return body.get("Result") if isinstance(body, dict) else None


def _records_affected(response: requests.Response) -> int:
    body = parse_body(response)
    count = body.get("RecordsAffected") if isinstance(body, dict) else None
    if not isinstance(count, int):
        raise CaspioError(
            "answer has no RecordsAffected",
            status=response.status_code,
            method=response.request.method or "",
        )
    return count
