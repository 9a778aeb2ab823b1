"""Which Stripe errors make a registration `failed` (no retry can fix them) and their words."""

from __future__ import annotations

import stripe

from connector.billing.provisioning import refusal


def test_retryable_stripe_errors_are_not_refusals():
    assert refusal(stripe.APIError("boom", http_status=500)) is None
    assert refusal(stripe.RateLimitError("slow down", http_status=429)) is None
    assert refusal(stripe.APIConnectionError("no answer")) is None
    locked = stripe.InvalidRequestError("locked", None, code="lock_timeout", http_status=409)
    assert refusal(locked) is None


def test_an_invalid_email_names_the_field_and_value_in_plain_words():
    error = stripe.InvalidRequestError(
        "Invalid email address: x", "email", code="email_invalid", http_status=400
    )
    found = refusal(error, "x")
    assert found is not None
    last_error, public = found
    assert last_error.startswith("Email 'x' is not a valid email address")
    assert public == "The email address given is not valid."


def test_other_bad_requests_name_the_field_stripe_names():
    error = stripe.InvalidRequestError(
        "Invalid string: too long", "name", code="parameter_invalid_string", http_status=400
    )
    found = refusal(error)
    assert found is not None
    assert found[0] == (
        "Stripe refused the registration (Name): Invalid string: too long "
        "[parameter_invalid_string]"
    )
    assert "cannot accept" in found[1]
