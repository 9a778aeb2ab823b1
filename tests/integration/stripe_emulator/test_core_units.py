"""Pure pieces of the core: diffs, signatures, cards, id prefixes, token bucket."""

from __future__ import annotations

import time

import pytest
import stripe

from sandbox.stripe.cards import TEST_PAYMENT_METHODS, card_for_number, luhn_ok
from sandbox.stripe.events import previous_attributes
from sandbox.stripe.ids import IdFactory, type_of
from sandbox.stripe.ratelimit import TokenBucket
from sandbox.stripe.signing import signature_header


def test_previous_attributes_shows_only_what_changed() -> None:
    before = {
        "status": "active",
        "metadata": {"a": "1", "b": "2"},
        "cancellation_details": {"reason": None, "comment": None},
        "items": {"object": "list", "data": [{"id": "si_1", "current_period_end": 10}]},
        "latest_invoice": "in_1",
    }
    after = {
        "status": "past_due",
        "metadata": {"a": "1", "b": "3", "c": "4"},
        "cancellation_details": {"reason": "payment_failed", "comment": None},
        "items": {"object": "list", "data": [{"id": "si_1", "current_period_end": 20}]},
        "latest_invoice": "in_1",
    }
    assert previous_attributes(before, after) == {
        "status": "active",
        "metadata": {"b": "2", "c": None},
        "cancellation_details": {"reason": None},
        "items": before["items"],
    }


def test_signature_header_verifies_with_stripe_python() -> None:
    body = b'{"id": "evt_1", "object": "event"}'
    now = int(time.time())
    header = signature_header("whsec_abc", now, body)
    assert stripe.WebhookSignature.verify_header(body.decode(), header, "whsec_abc")
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode() + " ", header, "whsec_abc")
    old = signature_header("whsec_abc", now - 600, body)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body.decode(), old, "whsec_abc", tolerance=300)


def test_card_table() -> None:
    assert luhn_ok("4242424242424242") and not luhn_ok("4242424242424241")
    assert card_for_number("4000 0000 0000 0341").charge_decline is not None
    assert card_for_number("4000000000000341").attach_decline is None
    assert card_for_number("4000000000000002").attach_decline is not None
    assert card_for_number("378282246310005").brand == "amex"
    assert card_for_number("1234").attach_decline is not None
    assert TEST_PAYMENT_METHODS["pm_card_chargeDeclined"].attach_decline is None
    assert TEST_PAYMENT_METHODS["pm_card_chargeDeclined"].charge_decline is not None


def test_ids_have_prefixes_and_seeds_repeat() -> None:
    a, b = IdFactory(seed=1), IdFactory(seed=1)
    assert a.new("cus") == b.new("cus")
    assert len(a.new("cus")) == len("cus_") + 14 and len(a.new("sub")) == len("sub_") + 24
    assert type_of("inpay_x") == "invoice_payment" and type_of("nothing") is None


def test_token_bucket_refuses_beyond_the_burst() -> None:
    bucket = TokenBucket(3)
    assert [bucket.take() for _ in range(4)] == [True, True, True, False]
