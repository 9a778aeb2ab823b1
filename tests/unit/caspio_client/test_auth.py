"""Token requests: form body, caching, expiry, 401 and stale-400 refresh."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import responses

from caspio_client import CaspioAuthError, CaspioBadRequest, CaspioClient
from caspio_client import where as w

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_URL,
    FakeClock,
    FakeTable,
    TokenServer,
    bearer,
    caspio_error,
)


def test_token_request_uses_client_credentials_form(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    add_table("Plans", rows=1)
    list(client.select("Plans"))
    assert tokens.forms == [
        {"grant_type": "client_credentials", "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    ]


def test_one_token_request_for_100_record_calls(
    client: CaspioClient,
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
    mocked: responses.RequestsMock,
) -> None:
    table = add_table("Plans", rows=3)
    for i in range(100):
        client.get_one("Plans", w.eq("PK_ID", i % 3 + 1))
    assert len(tokens.issued) == 1
    assert len(table.requests) == 100
    assert {bearer(call.request) for call in mocked.calls if call.request.url != TOKEN_URL} == {
        "tok-1"
    }
    assert client.meter.snapshot() == {("POST", "oauth", 200): 1, ("GET", "Plans", 200): 100}


def test_token_is_renewed_shortly_before_expiry(
    client: CaspioClient, tokens: TokenServer, clock: FakeClock, add_table: Callable[..., FakeTable]
) -> None:
    add_table("Plans", rows=1)
    client.get_one("Plans", w.eq("PK_ID", 1))
    clock.now += 86399 - 300 - 1  # just inside the default 300 s margin
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert tokens.issued == ["tok-1"]
    clock.now += 2
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert tokens.issued == ["tok-1", "tok-2"]


def test_short_lived_token_renews_at_half_life(
    client: CaspioClient, tokens: TokenServer, clock: FakeClock, add_table: Callable[..., FakeTable]
) -> None:
    tokens.expires_in = 100
    add_table("Plans", rows=1)
    client.get_one("Plans", w.eq("PK_ID", 1))
    clock.now += 49
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert len(tokens.issued) == 1
    clock.now += 2
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert len(tokens.issued) == 2


def test_new_token_after_401(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=2)
    client.get_one("Plans", w.eq("PK_ID", 1))
    table.faults.append(caspio_error(401, "Unauthorized", "Access token expired"))
    row = client.get_one("Plans", w.eq("PK_ID", 2))
    assert row is not None and row["PK_ID"] == 2
    assert tokens.issued == ["tok-1", "tok-2"]
    assert client.meter.snapshot()[("GET", "Plans", 401)] == 1
    # The token is shared: the next call uses tok-2 without another token request.
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert tokens.issued == ["tok-1", "tok-2"]


def test_second_401_is_an_auth_error_without_a_loop(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults += [
        caspio_error(401, "Unauthorized", "no"),
        caspio_error(401, "Unauthorized", "no"),
    ]
    with pytest.raises(CaspioAuthError) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.status == 401
    assert len(tokens.issued) == 2
    assert len(table.requests) == 2


def test_stale_token_400_refreshes_once(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults.append(caspio_error(400, "IncorrectQueryParameter", "Incorrect query parameter"))
    assert client.get_one("Plans", w.eq("PK_ID", 1)) is not None
    assert tokens.issued == ["tok-1", "tok-2"]


def test_repeated_incorrect_query_parameter_is_raised(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    bad = caspio_error(400, "IncorrectQueryParameter", "Incorrect query parameter q.where")
    table.faults += [bad, bad, bad]
    with pytest.raises(CaspioBadRequest) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.code == "IncorrectQueryParameter"
    assert len(table.requests) == 2  # original + one retry with a new token, no more
    assert len(tokens.issued) == 2


def test_refused_credentials_are_an_auth_error_and_not_retried(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
) -> None:
    tokens.refuse = True
    table = add_table("Plans", rows=1)
    client = make_client()
    with pytest.raises(CaspioAuthError) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.table == "oauth"
    assert info.value.code == "invalid_client"
    assert len(tokens.forms) == 1
    assert table.requests == []
    assert client.meter.snapshot() == {("POST", "oauth", 401): 1}
