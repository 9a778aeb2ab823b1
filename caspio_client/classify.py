"""Turn a failed Caspio HTTP answer into the matching ``CaspioError``.

Documented error body: ``{"Code", "Message", "Resource", "RequestId"}``. Observed extras
(reference §5, §9): the rate limit arrives as 400 with a *list* body
``[{"message": ..., "name": "api-calls-rate"}]`` or as 429, and a unique-key conflict is
undocumented (assumed 400 ``SqlServerError`` naming a UNIQUE KEY / duplicate key).
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import requests

from .errors import (
    CaspioAlreadyExists,
    CaspioAuthError,
    CaspioBadRequest,
    CaspioError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)

REQUEST_ID_HEADER = "X-Caspio-Request-ID"
RATE_LIMIT_NAME = "api-calls-rate"
STALE_TOKEN_CODE = "IncorrectQueryParameter"

_UNIQUE_CODES = {"SqlServerError", "UniqueConstraintViolation", "DuplicateValue"}
_UNIQUE_WORDS = ("unique", "duplicate")
_EXISTS_CODES = {"ObjectExists"}
_MAX_MESSAGE = 500


def parse_body(response: requests.Response) -> Any:
    """The JSON body, or None when it is empty or not JSON."""
    if not response.content:
        return None
    try:
        # Decimal keeps Currency values exact (33.33 must never become 33.329999…).
        return json.loads(response.content, parse_float=Decimal)
    except ValueError:
        return None


def parse_retry_after(value: str | None, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or an HTTP-date)."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # RFC 7231 dates are GMT
        return None
    return max(0.0, when.timestamp() - now())


def is_rate_limit_body(body: Any) -> bool:
    if isinstance(body, list):
        return any(isinstance(item, dict) and _names_rate_limit(item) for item in body)
    return isinstance(body, dict) and _names_rate_limit(body)


def _names_rate_limit(item: dict[str, Any]) -> bool:
    return RATE_LIMIT_NAME in (item.get("name"), item.get("Name"), item.get("Code"))


def is_unique_violation(code: str | None, message: str) -> bool:
    if code in _EXISTS_CODES:
        return True
    lowered = message.lower()
    return code in _UNIQUE_CODES and any(word in lowered for word in _UNIQUE_WORDS)


def _code_and_message(body: Any, response: requests.Response) -> tuple[str | None, str]:
    code: str | None = None
    message = ""
    if isinstance(body, dict):
        code = _text_or_none(body.get("Code"))
        # The token endpoint answers OAuth style: {"error", "error_description"}.
        code = code or _text_or_none(body.get("error"))
        message = str(
            body.get("Message") or body.get("error_description") or body.get("message") or ""
        )
    elif isinstance(body, list):
        first = next((item for item in body if isinstance(item, dict)), {})
        code = _text_or_none(first.get("Code") or first.get("name"))
        message = str(first.get("Message") or first.get("message") or "")
    if not message:
        message = response.reason or "no message"
    return code, message[:_MAX_MESSAGE]


def _text_or_none(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


def request_id_of(response: requests.Response, body: Any = None) -> str | None:
    header = response.headers.get(REQUEST_ID_HEADER)
    if header:
        return header
    if isinstance(body, dict) and body.get("RequestId"):
        return str(body["RequestId"])
    return None


def error_from_response(
    response: requests.Response,
    method: str,
    table: str,
    now: Callable[[], float] = time.time,
) -> CaspioError:
    """The exception for a non-success answer."""
    body = parse_body(response)
    status = response.status_code
    code, message = _code_and_message(body, response)
    common: dict[str, Any] = {
        "status": status,
        "code": code,
        "request_id": request_id_of(response, body),
        "method": method,
        "table": table,
        "retry_after": parse_retry_after(response.headers.get("Retry-After"), now),
    }
    if status == 429 or (status == 400 and is_rate_limit_body(body)):
        return CaspioRateLimited(message, **common)
    if status >= 500:
        # The server may have done the work before failing.
        return CaspioServerError(message, maybe_applied=True, **common)
    if status in (401, 403):
        return CaspioAuthError(message, **common)
    if status == 404:
        return CaspioNotFound(message, **common)
    if status == 409 or is_unique_violation(code, message):
        return CaspioAlreadyExists(message, **common)
    return CaspioBadRequest(message, **common)


def is_stale_token_answer(error: CaspioError) -> bool:
    """401, or the 400 ``IncorrectQueryParameter`` Caspio sometimes sends for a stale token."""
    if error.status == 401:
        return True
    return error.status == 400 and error.code == STALE_TOKEN_CODE
