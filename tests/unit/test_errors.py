"""connector.errors: the root error and the closed table of Stripe cases (issue #11, fault 8)."""

from __future__ import annotations

import json

import pytest
import stripe

from caspio_client.errors import (
    CaspioBadRequest,
    CaspioConnectionError,
    CaspioNotFound,
    CaspioRateLimited,
    CaspioServerError,
)
from connector.errors import (
    STRIPE_CASES,
    BridgeError,
    InvalidPayload,
    classify,
    classify_stripe_error,
)
from connector.sync.caspio_writer import MissingCaspioRow


def _stripe(cls: type[stripe.StripeError], status: int | None, code: str | None = None):
    if cls in (stripe.InvalidRequestError,):
        return cls("msg", "param", code=code, http_status=status)
    if cls is stripe.CardError:
        return cls("declined", "card", code or "card_declined", http_status=status)
    if cls is stripe.SignatureVerificationError:
        return cls("bad", "t=1")
    return cls("msg", http_status=status, code=code)


@pytest.mark.parametrize(
    ("error", "case", "retryable"),
    [
        (_stripe(stripe.APIConnectionError, None), "connection_failed", True),
        (_stripe(stripe.RateLimitError, 429), "rate_limited", True),
        (_stripe(stripe.InvalidRequestError, 409, "lock_timeout"), "lock_timeout", True),
        (_stripe(stripe.InvalidRequestError, 409), "idempotency_key_in_use", True),
        (_stripe(stripe.APIError, 500), "stripe_server_error", True),
        (_stripe(stripe.AuthenticationError, 401), "authentication_failed", False),
        (_stripe(stripe.PermissionError, 403), "permission_denied", False),
        (_stripe(stripe.InvalidRequestError, 404, "resource_missing"), "resource_missing", False),
        (_stripe(stripe.InvalidRequestError, 400, "parameter_invalid"), "invalid_request", False),
        (_stripe(stripe.IdempotencyError, 400), "idempotency_mismatch", False),
        (_stripe(stripe.CardError, 402), "card_declined", False),
        (_stripe(stripe.SignatureVerificationError, None), "signature_invalid", False),
    ],
)
def test_each_stripe_case_is_named_and_says_whether_a_retry_helps(error, case, retryable):
    failure = classify_stripe_error(error)
    assert (failure.case, failure.retryable) == (case, retryable)
    assert failure.http_status == error.http_status and failure.code == error.code
    assert classify(error).retryable is retryable


def test_the_message_text_never_decides():
    # A 400 whose message talks about rate limits is still a 400; a 500 saying "invalid" is 5xx.
    assert not classify(_stripe(stripe.InvalidRequestError, 400)).retryable
    wordy = stripe.InvalidRequestError("Too many requests, rate limit", "x", http_status=400)
    assert not classify(wordy).retryable
    assert classify(stripe.APIError("invalid request", http_status=500)).retryable


def test_a_class_outside_the_table_is_retried_only_on_5xx_or_no_answer():
    assert classify_stripe_error(stripe.QuotaExceededError("q", http_status=400)).case == (
        "unclassified"
    )
    assert not classify(stripe.QuotaExceededError("q", http_status=400)).retryable
    assert classify(stripe.QuotaExceededError("q", http_status=503)).retryable


def test_every_case_has_a_unique_name():
    names = [case.name for case in STRIPE_CASES]
    assert len(names) == len(set(names))


def test_the_request_id_is_kept():
    error = stripe.InvalidRequestError(
        "No such price", "price", code="resource_missing", http_status=404,
        headers={"request-id": "req_123"},
    )
    assert classify_stripe_error(error).request_id == "req_123"


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (CaspioBadRequest("bad", status=400), False),
        (CaspioNotFound("FieldNotFound", status=404), False),
        (CaspioServerError("down", status=503), True),
        (CaspioRateLimited("slow down", status=429), True),
        (CaspioConnectionError("refused"), True),
        (MissingCaspioRow("Billing_Customers has no row"), True),
        (InvalidPayload("no data.object"), False),
        (BridgeError("custom", retryable=True), True),
        (KeyError("data"), False),
        (TypeError("'NoneType' object is not subscriptable"), False),
        (json.JSONDecodeError("x", "", 0), False),
        (RecursionError(), False),
        (OSError("database restarting"), True),
        (RuntimeError("unknown"), True),
    ],
)
def test_classify_retries_only_what_can_help(error, retryable):
    assert classify(error).retryable is retryable
    assert type(error).__name__ in classify(error).reason


def test_retry_after_comes_from_the_error():
    assert classify(CaspioRateLimited("x", status=429, retry_after=30.0)).retry_after == 30.0
    assert classify(BridgeError("x", retryable=True, retry_after=5)).retry_after == 5
