"""JSON answers and request bodies, shared by the emulator's endpoints."""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from werkzeug.wrappers import Request, Response

from sandbox.caspio.errors import bad_body

JSON_TYPE = "application/json; charset=utf-8"


@dataclass
class Answer:
    status: int
    body: Any = None  # JSON value; None means an empty body
    headers: dict[str, str] | None = None


def with_reason_phrase(response: Response) -> Response:
    """``201 Created``, not werkzeug's ``201 CREATED``: the phrase IIS (Caspio) sends."""
    code = response.status_code
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        return response
    response.status = f"{code} {phrase}"
    return response


def json_response(answer: Answer) -> Response:
    if answer.body is None:
        response = Response(b"", status=answer.status)
        del response.headers["Content-Type"]  # nothing to describe
    else:
        data = json.dumps(answer.body, ensure_ascii=False, separators=(",", ":"))
        response = Response(data.encode("utf-8"), status=answer.status, content_type=JSON_TYPE)
    for name, value in (answer.headers or {}).items():
        response.headers[name] = value
    return response


def json_body(request: Request) -> Any:
    data = request.get_data(as_text=True)
    if not data.strip():
        raise bad_body("The request body is missing")
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=no_constants)
    except ValueError:
        raise bad_body("The request body is not valid JSON") from None


def no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")  # NaN and Infinity are Python extensions
