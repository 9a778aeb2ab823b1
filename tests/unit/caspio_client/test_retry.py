"""Bounded retries: 429, 5xx, api-calls-rate, connection failures, Retry-After, safe inserts."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

import pytest
import requests

from caspio_client import (
    CaspioAlreadyExists,
    CaspioBadRequest,
    CaspioClient,
    CaspioConnectionError,
    CaspioError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)
from caspio_client import where as w
from caspio_client.classify import parse_retry_after
from caspio_client.retry import RetryPolicy

from .conftest import FakeClock, FakeTable, Reply, TokenServer, caspio_error, reply

RATE_LIMIT_BODY = [
    {"message": "You have exceeded your API call rate limits.", "name": "api-calls-rate"}
]


def rate_limited_400() -> Reply:
    return reply(400, RATE_LIMIT_BODY)


def too_many() -> Reply:
    return reply(429, {"Code": "TooManyRequests", "Message": "slow down"})


def server_error() -> Reply:
    return caspio_error(500, "InternalError", "boom")


@pytest.mark.parametrize(
    ("fault", "error_type", "status"),
    [
        (too_many, CaspioRateLimited, 429),
        (rate_limited_400, CaspioRateLimited, 400),
        (server_error, CaspioServerError, 500),
        (lambda: caspio_error(503, "ServiceUnavailable", "down"), CaspioServerError, 503),
    ],
)
def test_retries_are_bounded_by_max_attempts(
    client: CaspioClient,
    tokens: TokenServer,
    clock: FakeClock,
    add_table: Callable[..., FakeTable],
    fault: Callable[[], Reply],
    error_type: type[CaspioError],
    status: int,
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [fault() for _ in range(50)]
    with pytest.raises(error_type) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.status == status
    assert info.value.retryable is True
    assert len(table.requests) == 5  # the default max_attempts
    assert len(clock.sleeps) == 4
    # Every failed attempt is metered (Caspio bills them).
    assert client.meter.snapshot()[("GET", "Plans", status)] == 5
    assert len(tokens.issued) == 1


@pytest.mark.parametrize("fault", [too_many, rate_limited_400, server_error])
def test_transient_failures_then_success(
    client: CaspioClient,
    tokens: TokenServer,
    clock: FakeClock,
    add_table: Callable[..., FakeTable],
    fault: Callable[[], Reply],
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [fault(), fault()]
    assert client.get_one("Plans", w.eq("PK_ID", 1)) == {"PK_ID": 1, "Name": "row 1"}
    assert len(table.requests) == 3
    assert len(clock.sleeps) == 2


def test_backoff_grows_exponentially_with_jitter(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    clock: FakeClock,
    add_table: Callable[..., FakeTable],
) -> None:
    policy = RetryPolicy(
        max_attempts=7,
        max_seconds=1000,
        base_delay=0.5,
        max_delay=4.0,
        sleep=clock.sleep,
        clock=clock,
        rng=random.Random(7),
    )
    client = make_client(retry_policy=policy)
    table = add_table("Plans", rows=1)
    table.faults = [server_error() for _ in range(10)]
    with pytest.raises(CaspioServerError):
        client.get_one("Plans", w.eq("PK_ID", 1))
    ceilings = [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert len(clock.sleeps) == len(ceilings)
    for slept, ceiling in zip(clock.sleeps, ceilings):
        assert ceiling / 2 <= slept <= ceiling
    assert len(set(clock.sleeps)) == len(clock.sleeps)  # jittered, not a fixed schedule


def test_total_retry_time_is_bounded(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    clock: FakeClock,
    add_table: Callable[..., FakeTable],
) -> None:
    client = make_client(max_attempts=100, max_retry_seconds=10.0)
    table = add_table("Plans", rows=1)
    table.faults = [server_error() for _ in range(100)]
    with pytest.raises(CaspioServerError):
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert sum(clock.sleeps) <= 10.0
    assert 3 <= len(table.requests) < 100


def test_retry_after_seconds_is_honoured(
    client: CaspioClient, tokens: TokenServer, clock: FakeClock, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [
        reply(429, None, {"Retry-After": "7"}),
        caspio_error(503, "X", "y", **{"Retry-After": "2"}),
    ]
    assert client.get_one("Plans", w.eq("PK_ID", 1)) is not None
    assert clock.sleeps == [7.0, 2.0]


def test_retry_after_beyond_the_budget_is_not_waited_for(
    client: CaspioClient, tokens: TokenServer, clock: FakeClock, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [reply(429, None, {"Retry-After": "120"})]
    with pytest.raises(CaspioRateLimited) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.retry_after == 120.0
    assert clock.sleeps == []
    assert len(table.requests) == 1


def test_retry_after_http_date() -> None:
    when = dt.datetime(2026, 10, 21, 7, 28, tzinfo=dt.timezone.utc)
    header = "Wed, 21 Oct 2026 07:28:00 GMT"
    assert parse_retry_after(header, now=lambda: when.timestamp() - 30) == pytest.approx(30.0)
    assert parse_retry_after(header, now=lambda: when.timestamp() + 30) == 0.0
    assert parse_retry_after("3.5") == 3.5
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (lambda: caspio_error(404, "ObjectNotFound", "no such table"), CaspioNotFound),
        (
            lambda: caspio_error(400, "SqlServerError", "Incorrect syntax near 'x'"),
            CaspioBadRequest,
        ),
        (lambda: caspio_error(400, "IncorrectBodyParameter", "bad body"), CaspioBadRequest),
    ],
)
def test_client_errors_are_not_retried(
    client: CaspioClient,
    tokens: TokenServer,
    clock: FakeClock,
    add_table: Callable[..., FakeTable],
    fault: Callable[[], Reply],
    error_type: type[CaspioError],
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [fault() for _ in range(5)]
    with pytest.raises(error_type) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.retryable is False
    assert len(table.requests) == 1
    assert clock.sleeps == []


def test_connection_failures_are_retried_and_metered_as_status_0(
    client: CaspioClient, tokens: TokenServer, clock: FakeClock, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [requests.ConnectionError("reset by peer") for _ in range(10)]
    with pytest.raises(CaspioConnectionError) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.status == 0
    assert client.meter.snapshot()[("GET", "Plans", 0)] == 5


def test_timeouts_are_retried(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [requests.ReadTimeout("slow"), requests.ConnectTimeout("unreachable")]
    assert client.get_one("Plans", w.eq("PK_ID", 1)) is not None
    assert len(table.requests) == 3


def test_a_retried_insert_never_creates_a_second_row(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Payments", unique="InvoiceID")
    # The first POST is stored but its answer is lost; the resend hits the unique key.
    table.lose_next_insert_answer = requests.ReadTimeout("answer lost")
    with pytest.raises(CaspioAlreadyExists) as info:
        client.insert("Payments", {"InvoiceID": "in_1", "Amount": 500})
    assert info.value.after_retry is True
    assert [r["InvoiceID"] for r in table.rows] == ["in_1"]
    assert [m for m, _, _ in table.requests] == ["POST", "POST"]


def test_a_retried_insert_after_a_5xx_that_was_applied(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Payments", unique="InvoiceID")
    # Stored, then a 502 from a gateway: the client cannot tell it was applied.
    table.lose_next_insert_answer = reply(502, None)
    with pytest.raises(CaspioAlreadyExists) as info:
        client.insert("Payments", {"InvoiceID": "in_2"})
    assert info.value.after_retry is True
    assert len(table.rows) == 1


def test_insert_without_ambiguous_retries_does_not_resend_a_maybe_applied_write(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Log")
    table.lose_next_insert_answer = requests.ReadTimeout("answer lost")
    with pytest.raises(CaspioConnectionError) as info:
        client.insert("Log", {"Text": "hello"}, retry_ambiguous=False)
    assert info.value.maybe_applied is True
    assert len(table.rows) == 1
    assert len(table.requests) == 1


def test_insert_without_ambiguous_retries_still_retries_rate_limits(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Log")
    table.faults = [too_many(), rate_limited_400(), requests.ConnectTimeout("unreachable")]
    row = client.insert("Log", {"Text": "hello"}, retry_ambiguous=False)
    assert row == {"PK_ID": 1, "Text": "hello"}
    assert len(table.rows) == 1


def test_token_request_failures_are_retried(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable], clock: FakeClock
) -> None:
    add_table("Plans", rows=1)
    failures = [requests.ConnectionError("down"), requests.ConnectionError("down")]

    def flaky() -> None:
        if failures:
            raise failures.pop(0)

    tokens.before_answer = flaky
    assert client.get_one("Plans", w.eq("PK_ID", 1)) is not None
    assert client.meter.snapshot()[("POST", "oauth", 0)] == 2
    assert client.meter.snapshot()[("POST", "oauth", 200)] == 1
    assert len(clock.sleeps) == 2


def test_a_lost_token_answer_does_not_make_an_insert_ambiguous(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Log")
    failures = [requests.ReadTimeout("token answer lost")]

    def flaky() -> None:
        if failures:
            raise failures.pop(0)

    tokens.before_answer = flaky
    row = client.insert("Log", {"Text": "hello"}, retry_ambiguous=False)
    assert row == {"PK_ID": 1, "Text": "hello"}
    assert len(table.requests) == 1
