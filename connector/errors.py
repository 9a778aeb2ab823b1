"""One root error for the bridge, and the one place that decides whether a retry can help.

`BridgeError` carries `retryable` (as `caspio_client.errors.CaspioError` does) plus what is
needed to find a failed call upstream (`http_status`, `code`, `request_id`, as
stripe-python's `StripeError` does). The worker asks `classify(exc)` about every failure:
what cannot succeed on a later attempt (a 400 from Caspio or Stripe, a mapping naming a
field Caspio does not have, a payload that cannot be read) is dead at once with its reason,
because every attempt costs billed Caspio calls and retries cannot change the answer.

Stripe errors are classified from a closed table of named cases (`STRIPE_CASES`, after
dj-stripe's `_stripe_errors.py`), matched on the error class, HTTP status and Stripe's error
`code`, never on message text. Sources: https://docs.stripe.com/error-handling,
https://docs.stripe.com/error-codes, https://docs.stripe.com/rate-limits (429, and 409
`lock_timeout`), stripe-python's `_http_client._should_retry` (409 and 5xx are retried).
"""

from __future__ import annotations

from dataclasses import dataclass

import stripe

from caspio_client.errors import CaspioError

__all__ = [
    "STRIPE_CASES",
    "BridgeError",
    "Classification",
    "InvalidPayload",
    "StripeCase",
    "StripeFailure",
    "classify",
    "classify_stripe_error",
]


class BridgeError(Exception):
    """Root of the bridge's own errors.

    `retryable`: whether the same work may succeed if tried again later (defaults to the
    class's `default_retryable`). `http_status`, `code`, `request_id`: the upstream answer,
    when there was one. `retry_after`: seconds an upstream asked us to wait, if it said.
    """

    default_retryable = False

    def __init__(
        self,
        message: str,
        *,
        retryable: bool | None = None,
        http_status: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = self.default_retryable if retryable is None else retryable
        self.http_status = http_status
        self.code = code
        self.request_id = request_id
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(message={self.message!r}, retryable={self.retryable!r}, "
            f"http_status={self.http_status!r}, code={self.code!r}, "
            f"request_id={self.request_id!r})"
        )


class InvalidPayload(BridgeError, ValueError):
    """An event body the bridge cannot read (not JSON, wrong shape, missing a field)."""


@dataclass(frozen=True)
class StripeCase:
    """One named kind of Stripe failure. `error`: the stripe-python class it applies to;
    `http_status` / `code`: further conditions (None: any)."""

    name: str
    error: type[stripe.StripeError]
    retryable: bool
    http_status: int | None = None
    code: str | None = None

    def matches(self, exc: stripe.StripeError) -> bool:
        return (
            isinstance(exc, self.error)
            and (self.http_status is None or exc.http_status == self.http_status)
            and (self.code is None or exc.code == self.code)
        )


# First match wins: specific cases (a status or code) before their class's catch-all.
STRIPE_CASES: tuple[StripeCase, ...] = (
    # No answer, or the connection broke: the request may not have arrived.
    StripeCase("connection_failed", stripe.APIConnectionError, retryable=True),
    # Too many requests (429), or another request holds the object's lock (409 lock_timeout).
    StripeCase("rate_limited", stripe.RateLimitError, retryable=True),
    StripeCase("lock_timeout", stripe.InvalidRequestError, True, code="lock_timeout"),
    StripeCase("rate_limit_code", stripe.InvalidRequestError, True, code="rate_limit"),
    # 409: a request with the same idempotency key is still running.
    StripeCase("idempotency_key_in_use", stripe.InvalidRequestError, True, http_status=409),
    # Stripe's own failure (5xx).
    StripeCase("stripe_server_error", stripe.APIError, retryable=True),
    # The key is wrong or lacks a permission: only an operator can fix it.
    StripeCase("authentication_failed", stripe.AuthenticationError, retryable=False),
    StripeCase("permission_denied", stripe.PermissionError, retryable=False),
    # 404: the object does not exist on this account (or in this mode).
    StripeCase("resource_missing", stripe.InvalidRequestError, False, http_status=404),
    # 400 and other 4xx: the request itself is wrong; resending it changes nothing.
    StripeCase("invalid_request", stripe.InvalidRequestError, retryable=False),
    StripeCase("idempotency_mismatch", stripe.IdempotencyError, retryable=False),
    StripeCase("card_declined", stripe.CardError, retryable=False),
    StripeCase("signature_invalid", stripe.SignatureVerificationError, retryable=False),
)


class StripeFailure(BridgeError):
    """A Stripe error seen through `STRIPE_CASES`: `case` names the row that matched."""

    def __init__(self, case: str, exc: stripe.StripeError, *, retryable: bool) -> None:
        super().__init__(
            f"Stripe {case}: {type(exc).__name__} (HTTP {exc.http_status}, "
            f"code {exc.code}): {exc.user_message or ''}".rstrip(": "),
            retryable=retryable,
            http_status=exc.http_status,
            code=exc.code,
            request_id=exc.request_id,
        )
        self.case = case


def classify_stripe_error(exc: stripe.StripeError) -> StripeFailure:
    """The named case for a stripe-python error. A class missing from the table is
    `unclassified`: retryable only without an answer or with a 5xx (Stripe's own rule)."""
    for case in STRIPE_CASES:
        if case.matches(exc):
            return StripeFailure(case.name, exc, retryable=case.retryable)
    status = exc.http_status
    return StripeFailure("unclassified", exc, retryable=status is None or status >= 500)


@dataclass(frozen=True)
class Classification:
    """The worker's view of one failure: retry it or not, why, and how long to wait."""

    retryable: bool
    reason: str
    retry_after: float | None = None


# Failures of reading the event itself (or of the bridge's code): the same payload fails the
# same way next time. LookupError is not here: `MissingCaspioRow` (a row the Caspio app has not
# created yet) is one, and it is a BridgeError that says it is retryable.
_NEVER_RETRYABLE: tuple[type[BaseException], ...] = (
    ValueError,  # includes json.JSONDecodeError, UnicodeDecodeError, mappings.MappingError
    TypeError,
    KeyError,
    IndexError,
    AttributeError,
    RecursionError,
)


def classify(exc: BaseException) -> Classification:
    """Whether a failed event is worth another attempt.

    Order: the bridge's own errors and Caspio's say so themselves (`retryable`); Stripe's go
    through `STRIPE_CASES`; reading errors (`_NEVER_RETRYABLE`) never are; anything else
    (database restart, network, an unknown failure) is retried with back-off.
    """
    reason = f"{type(exc).__name__}: {exc}"
    if isinstance(exc, BridgeError):
        return Classification(exc.retryable, reason, exc.retry_after)
    if isinstance(exc, CaspioError):
        return Classification(exc.retryable, reason, exc.retry_after)
    if isinstance(exc, stripe.StripeError):
        failure = classify_stripe_error(exc)
        return Classification(failure.retryable, f"{failure}", None)
    if isinstance(exc, _NEVER_RETRYABLE):
        return Classification(False, reason)
    wait = getattr(exc, "retry_after", None)  # any error that says how long to wait
    return Classification(True, reason, float(wait) if isinstance(wait, (int, float)) else None)
