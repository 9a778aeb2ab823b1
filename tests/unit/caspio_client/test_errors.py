"""Errors: right class, Caspio's request id, and no secrets in their text."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests

from caspio_client import (
    CaspioAlreadyExists,
    CaspioAuthError,
    CaspioBadRequest,
    CaspioClient,
    CaspioError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)
from caspio_client import where as w

from .conftest import (
    CLIENT_SECRET,
    FakeTable,
    Reply,
    TokenServer,
    caspio_error,
    reply,
)


@pytest.mark.parametrize(
    ("answers", "error_type", "status", "code"),
    [
        (
            [caspio_error(400, "SqlServerError", "Incorrect syntax")],
            CaspioBadRequest,
            400,
            "SqlServerError",
        ),
        (
            [caspio_error(400, "AlterReadOnlyData", "PK_ID is read-only")],
            CaspioBadRequest,
            400,
            "AlterReadOnlyData",
        ),
        (
            [
                caspio_error(
                    400, "SqlServerError", "Cannot insert duplicate key row in object 'dbo.T'"
                )
            ],
            CaspioAlreadyExists,
            400,
            "SqlServerError",
        ),
        (
            [caspio_error(400, "DuplicateValue", "Duplicate value")],
            CaspioAlreadyExists,
            400,
            "DuplicateValue",
        ),
        ([caspio_error(401, "Unauthorized", "x")] * 2, CaspioAuthError, 401, "Unauthorized"),
        ([caspio_error(403, "IpForbidden", "IP not allowed")], CaspioAuthError, 403, "IpForbidden"),
        (
            [caspio_error(404, "ObjectNotFound", "Requested object not found")],
            CaspioNotFound,
            404,
            "ObjectNotFound",
        ),
        (
            [caspio_error(429, "TooManyRequests", "slow")] * 5,
            CaspioRateLimited,
            429,
            "TooManyRequests",
        ),
        (
            [reply(400, [{"message": "limit", "name": "api-calls-rate"}])] * 5,
            CaspioRateLimited,
            400,
            "api-calls-rate",
        ),
        ([caspio_error(500, "InternalError", "boom")] * 5, CaspioServerError, 500, "InternalError"),
    ],
)
def test_every_error_carries_caspios_request_id(
    client: CaspioClient,
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
    answers: list[Reply],
    error_type: type[CaspioError],
    status: int,
    code: str,
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = list(answers)
    with pytest.raises(error_type) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    error = info.value
    last_id = answers[-1][1]["X-Caspio-Request-ID"]
    assert (error.status, error.code, error.request_id) == (status, code, last_id)
    assert (error.method, error.table) == ("GET", "Plans")
    assert last_id in str(error) and code in str(error) and "Plans" in str(error)


def test_request_id_falls_back_to_the_body(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    body = '{"Code":"ObjectNotFound","Message":"gone","Resource":"/x","RequestId":"body-id-7"}'
    table.faults = [(404, {}, body)]
    with pytest.raises(CaspioNotFound) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.request_id == "body-id-7"


def test_non_json_error_body_still_gives_a_useful_error(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    table = add_table("Plans", rows=1)
    table.faults = [(404, {"X-Caspio-Request-ID": "rid-html"}, "<html>Not Found</html>")]
    with pytest.raises(CaspioNotFound) as info:
        client.get_one("Plans", w.eq("PK_ID", 1))
    assert info.value.code is None
    assert info.value.request_id == "rid-html"
    assert info.value.message == "Not Found"


def test_no_secret_or_token_in_errors_reprs_or_logs(
    make_client: Callable[..., CaspioClient],
    tokens: TokenServer,
    add_table: Callable[..., FakeTable],
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = make_client()
    table = add_table("Plans", rows=1)
    table.faults = (
        [caspio_error(500, "InternalError", "boom")] * 2
        + [caspio_error(401, "Unauthorized", "expired")] * 2
        + [requests.ConnectionError("reset")] * 5
    )
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG)
    for _ in range(2):
        with pytest.raises(CaspioError) as info:
            client.get_one("Plans", w.eq("PK_ID", 1))
        errors.append(info.value)
    tokens.refuse = True
    client_refused = make_client()
    with pytest.raises(CaspioAuthError) as refused:
        client_refused.list_tables()
    errors.append(refused.value)

    texts = [str(e) for e in errors] + [repr(e) for e in errors]
    texts += [repr(client), repr(client_refused), repr(vars(client)), caplog.text]
    assert caplog.records, "retries should have been logged"
    for text in texts:
        assert CLIENT_SECRET not in text
        for token in tokens.issued:
            assert token not in text
