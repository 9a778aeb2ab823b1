"""One metered HTTP request, with transport failures turned into ``CaspioConnectionError``."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
from decimal import Decimal
from typing import Any

import requests

from .errors import CaspioConnectionError
from .metering import CallMeter

__all__ = ["Transport"]


class Transport:
    """Sends requests through one ``requests.Session`` and counts each one."""

    def __init__(self, session: requests.Session, timeout: float, meter: CallMeter) -> None:
        self.session = session
        self.timeout = timeout
        self.meter = meter

    def send(
        self,
        method: str,
        url: str,
        table: str,
        *,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
        json: Any = None,
        data: dict[str, str] | None = None,
    ) -> requests.Response:
        body: bytes | None = None
        if json is not None:
            body = encode_json(json)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        try:
            response = self.session.request(
                method,
                url,
                headers=headers,
                params=params,
                data=body if body is not None else data,
                timeout=self.timeout,
            )
        except requests.RequestException as exc:
            # Billed or not, the attempt is counted; status 0 = no HTTP answer.
            self.meter.record(method, table, 0)
            raise _connection_error(exc, method, table) from exc
        self.meter.record(method, table, response.status_code)
        return response


def encode_json(value: Any) -> bytes:
    """JSON with Decimals written as exact numbers and dates in Caspio's zone-less form."""
    return jsonlib.dumps(value, default=_json_default, separators=(",", ":")).encode("utf-8")


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # JSON numbers travel as doubles; refuse a value a double cannot carry exactly
        # rather than send a silently different amount.
        number = float(value)
        if not value.is_finite() or Decimal(repr(number)) != value:
            raise ValueError(f"{value} cannot be sent to Caspio as an exact number")
        return number
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"cannot send {type(value).__name__} to Caspio")


def _connection_error(
    exc: requests.RequestException, method: str, table: str
) -> CaspioConnectionError:
    # A connect failure means the request never reached Caspio; anything later
    # (read timeout, reset) may have been carried out.
    never_sent = isinstance(exc, requests.ConnectTimeout) or (
        isinstance(exc, requests.ConnectionError) and _is_connect_failure(exc)
    )
    # The exception text names the URL, which carries no secret (the token is a header).
    return CaspioConnectionError(
        f"{type(exc).__name__}: {exc}"[:300],
        method=method,
        table=table,
        maybe_applied=not never_sent,
    )


def _is_connect_failure(exc: requests.ConnectionError) -> bool:
    reason = exc.args[0] if exc.args else None
    text = repr(reason)
    return "NewConnectionError" in text or "NameResolutionError" in text
