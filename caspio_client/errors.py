"""Exceptions raised by the Caspio client.

Every error carries what is needed to find the call in Caspio's logs (method, table,
HTTP status, Caspio ``Code``, ``Message`` and the ``X-Caspio-Request-ID``), and never
the client secret or the access token.
"""

from __future__ import annotations

__all__ = [
    "CaspioAlreadyExists",
    "CaspioAuthError",
    "CaspioBadRequest",
    "CaspioConnectionError",
    "CaspioError",
    "CaspioNotFound",
    "CaspioRateLimited",
    "CaspioServerError",
]


class CaspioError(Exception):
    """Base class: one failed Caspio call (after any retries)."""

    #: Whether the same call may succeed if sent again later.
    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        status: int = 0,
        code: str | None = None,
        request_id: str | None = None,
        method: str = "",
        table: str = "",
        retryable: bool | None = None,
        retry_after: float | None = None,
        maybe_applied: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.request_id = request_id
        self.method = method
        self.table = table
        self.retryable = self.default_retryable if retryable is None else retryable
        #: Seconds the server asked us to wait (``Retry-After``), if it said.
        self.retry_after = retry_after
        #: True when Caspio may have carried out the request although it failed
        #: (timeout after sending, 5xx): resending a write could apply it twice.
        self.maybe_applied = maybe_applied

    def __str__(self) -> str:
        target = f"{self.method} {self.table or '-'}".strip()
        code = f" {self.code}" if self.code else ""
        request = f" (request id {self.request_id})" if self.request_id else ""
        return f"{target}: HTTP {self.status}{code}: {self.message}{request}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, request_id={self.request_id!r}, "
            f"method={self.method!r}, table={self.table!r}, retryable={self.retryable!r})"
        )


class CaspioAuthError(CaspioError):
    """401/403, or the token endpoint refused the credentials."""


class CaspioNotFound(CaspioError):
    """404: unknown table, field or route."""


class CaspioBadRequest(CaspioError):
    """400 and other 4xx answers that resending will not fix."""


class CaspioAlreadyExists(CaspioBadRequest):
    """A unique key already holds the value (or the table/field already exists).

    ``after_retry`` is True when an earlier attempt of the same call may have been
    applied, i.e. the conflict is most likely with our own first write.
    """

    after_retry: bool = False


class CaspioRateLimited(CaspioError):
    """429, or the 400 ``api-calls-rate`` answer."""

    default_retryable = True


class CaspioServerError(CaspioError):
    """5xx from Caspio."""

    default_retryable = True


class CaspioConnectionError(CaspioError):
    """No HTTP answer at all: connection refused or reset, DNS failure, timeout."""

    default_retryable = True
