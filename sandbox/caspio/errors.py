"""Caspio's error answers, as the emulator sends them.

Documented (reference §5): every 4xx carries ``{"Code","Message","Resource","RequestId"}``
and every response the header ``X-Caspio-Request-ID`` with the same id.

Choices where the real behaviour is undocumented (reference §9), most likely form first:

- **Unique violation** (§9.3): 400 ``SqlServerError`` with SQL Server's own text,
  ``Violation of UNIQUE KEY constraint 'UQ_<table>_<field>'. Cannot insert duplicate key in
  object 'dbo.<table>'. The duplicate key value is (<value>).`` Caspio wraps native SQL
  errors as ``SqlServerError`` (DOC-ERR) and enforces Unique with a SQL Server constraint.
- **Rate limit** (§9.4): 429 with the Code/Message body (``Code`` ``TooManyRequests``) by
  default; ``rate_limit_style="400"`` gives the one observed form instead: 400 with the
  array body ``[{"message":"You have exceeded your API call rate limits.",
  "name":"api-calls-rate"}]``. A client must handle both.
- **401** (§9.1): the Code/Message body with ASP.NET Web API's text ``Authorization has been
  denied for this request.`` (Caspio's REST service is ASP.NET; that framework answers an
  unauthorised call with exactly this ``Message``). Clients should key on the status only.
- **Token endpoint** errors: OAuth's ``{"error": "invalid_client" | "invalid_grant" |
  "unsupported_grant_type"}`` with 400, as an OWIN token server answers.
- **Unknown field in a write body**: 404 ``FieldNotFound`` (PROXY LESSONS_LEARNED).
- **Writing a read-only field**: 400 ``AlterReadOnlyData`` (code observed, status guessed).
- **Wrong value type**: 400 ``InvalidInputValue`` with the observed message text.
- **Unknown field in ``q.select``**: 500 (PIDX observed a 500), body ``InternalError``.
- **Text too long**: 400 ``SqlServerError`` "String or binary data would be truncated."
- **Table or field that already exists**: 400 ``ObjectExists``.
"""

from __future__ import annotations

from typing import Any

RATE_LIMIT_MESSAGE = "You have exceeded your API call rate limits."
UNAUTHORIZED_MESSAGE = "Authorization has been denied for this request."


class ApiError(Exception):
    """An error answer; the app turns it into Caspio's error body."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message

    def body(self, resource: str, request_id: str) -> dict[str, Any]:
        return {
            "Code": self.code,
            "Message": self.message,
            "Resource": resource,
            "RequestId": request_id,
        }


def object_not_found() -> ApiError:
    return ApiError(404, "ObjectNotFound", "Requested object not found")


def field_not_found(names: list[str]) -> ApiError:
    joined = ", ".join(names)
    return ApiError(
        404, "FieldNotFound",
        f"Cannot perform operation because the following field(s) do not exist: {joined}",
    )


def bad_query(message: str) -> ApiError:
    return ApiError(400, "IncorrectQueryParameter", message)


def bad_body(message: str) -> ApiError:
    return ApiError(400, "IncorrectBodyParameter", message)


def sql_error(message: str) -> ApiError:
    return ApiError(400, "SqlServerError", message)


def object_exists(message: str) -> ApiError:
    return ApiError(400, "ObjectExists", message)


def read_only(names: list[str]) -> ApiError:
    joined = ", ".join(names)
    return ApiError(
        400, "AlterReadOnlyData",
        f"Cannot perform operation because the following field(s) are read-only: {joined}",
    )


def invalid_value(names: list[str]) -> ApiError:
    joined = ", ".join(names)
    return ApiError(
        400, "InvalidInputValue",
        "Cannot perform operation because the value doesn't match the data type of the "
        f"following field(s): {joined}",
    )


def unique_violation(table: str, field: str, value: object) -> ApiError:
    return sql_error(
        f"Violation of UNIQUE KEY constraint 'UQ_{table}_{field}'. Cannot insert duplicate "
        f"key in object 'dbo.{table}'. The duplicate key value is ({value})."
    )


def unauthorized() -> ApiError:
    return ApiError(401, "Unauthorized", UNAUTHORIZED_MESSAGE)


def internal_error(message: str = "An error has occurred.") -> ApiError:
    return ApiError(500, "InternalError", message)


def unsupported(what: str) -> ApiError:
    """Valid T-SQL that this emulator does not implement: a clear 400, never a guess."""
    return bad_query(f"{what} is not supported by the Caspio emulator")
