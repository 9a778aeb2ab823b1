"""POST /stripe/webhook through Flask's test client, on SQLite and PostgreSQL."""

import json
import time
from types import SimpleNamespace

import pytest
from flask import Flask

from connector.settings import Settings
from connector.sync.inbox import IGNORED, PENDING, Inbox
from connector.sync.signature import signature_header
from connector.web import stripe_webhooks
from tests.fixtures import stripe_events as se

SECRET = "whsec_current"
OLD_SECRET = "whsec_old"


@pytest.fixture
def app(store):
    app = Flask("test")
    settings = Settings.for_tests(stripe_webhook_secrets=(OLD_SECRET, SECRET))
    app.extensions["caspio_stripe"] = SimpleNamespace(settings=settings, store=store)
    app.register_blueprint(stripe_webhooks.blueprint)
    return app


def post(app, body: bytes, header: str | None, **headers):
    if header is not None:
        headers["Stripe-Signature"] = header
    return app.test_client().post(
        "/stripe/webhook", data=body, headers=headers, content_type="application/json"
    )


def signed(event, *, secret=SECRET, at=None):
    body = json.dumps(event).encode()
    return body, signature_header(secret, int(at or time.time()), body)


def test_a_signed_event_is_stored_and_acknowledged(app, store):
    body, header = signed(se.event("invoice.paid", se.invoice("in_1"), 100, "evt_ok"))
    response = post(app, body, header)
    assert response.status_code == 200
    assert response.get_json() == {"received": True, "duplicate": False}
    row = Inbox(store).get("evt_ok")
    assert row["status"] == PENDING
    assert row["payload"] == body.decode()  # raw bytes kept, not re-serialised


def test_either_secret_works_while_one_is_rolled(app, store):
    body, header = signed(
        se.event("invoice.paid", se.invoice("in_1"), 100, "evt_old"), secret=OLD_SECRET
    )
    assert post(app, body, header).status_code == 200
    # Stripe signs with both secrets during a roll; one unknown v1 does not spoil the other
    body = json.dumps(se.event("invoice.paid", se.invoice("in_2"), 100, "evt_two")).encode()
    now = int(time.time())
    both = (
        signature_header("whsec_unknown", now, body)
        + ","
        + signature_header(SECRET, now, body).split(",")[1]
    )
    assert post(app, body, both + ",v0=abc").status_code == 200
    assert Inbox(store).get("evt_two") is not None


def test_a_duplicate_delivery_is_acknowledged_without_a_second_row(app, store):
    body, header = signed(se.event("invoice.paid", se.invoice("in_1"), 100, "evt_dup"))
    assert post(app, body, header).status_code == 200
    second = post(app, body, header)
    assert second.status_code == 200
    assert second.get_json()["duplicate"] is True
    assert sum(Inbox(store).counts().values()) == 1


def test_unhandled_types_are_stored_and_acknowledged(app, store):
    body, header = signed(
        se.event("customer.tax_id.created", {"id": "txi_1", "object": "tax_id"}, 100, "evt_tax")
    )
    assert post(app, body, header).status_code == 200
    assert Inbox(store).get("evt_tax")["status"] == IGNORED


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda body, header: (body, None), "missing Stripe-Signature header"),
        (lambda body, header: (body + b" ", header), "signature does not match"),
        (
            lambda body, header: (body, signature_header("whsec_forged", int(time.time()), body)),
            "signature does not match",
        ),
        (
            lambda body, header: (body, signature_header(SECRET, int(time.time()) - 301, body)),
            "signature timestamp too old",
        ),
        (lambda body, header: (body, "t=abc,v1=00"), "malformed signature timestamp"),
        (lambda body, header: (body, "garbage"), "signature header has no timestamp"),
        (
            lambda body, header: (body, f"t={int(time.time())}"),
            "signature header has no v1 signature",
        ),
    ],
)
def test_forged_stale_or_unsigned_requests_get_400_and_nothing_is_stored(
    app, store, mangle, reason
):
    body, header = signed(se.event("invoice.paid", se.invoice("in_1"), 100, "evt_bad"))
    body, header = mangle(body, header)
    response = post(app, body, header)
    assert response.status_code == 400
    assert response.get_json() == {"error": reason}
    assert Inbox(store).counts() == {}


def test_a_v2_thin_notification_is_stored_and_acknowledged(app, store):
    thin = {
        "id": "evt_test_65R9",
        "object": "v2.core.event",
        "type": "v1.billing.meter.error_report_triggered",
        "created": "2026-11-21T20:00:00.000Z",
        "related_object": {"id": "mtr_1", "type": "billing.meter"},
    }
    body, header = signed(thin)
    assert post(app, body, header).status_code == 200
    row = Inbox(store).get("evt_test_65R9")
    assert (row["status"], row["object_id"], row["created"]) == (IGNORED, "evt_test_65R9", 0)


def test_a_timestamp_inside_the_tolerance_passes(app):
    body, header = signed(
        se.event("invoice.paid", se.invoice("in_1"), 100, "evt_299"), at=time.time() - 299
    )
    assert post(app, body, header).status_code == 200


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"not json", "body is not JSON"),
        (b"\xff\xfe", "body is not JSON"),
        (b"[1, 2]", "event is not a JSON object"),
        (
            json.dumps({"id": "evt_1", "type": "invoice.paid", "created": 1}).encode(),
            "missing data.object",
        ),
        (
            json.dumps(
                {"id": "x", "type": "invoice.paid", "created": 1, "data": {"object": {}}}
            ).encode(),
            "missing event id",
        ),
    ],
)
def test_signed_but_malformed_bodies_get_400(app, store, body, reason):
    response = post(app, body, signature_header(SECRET, int(time.time()), body))
    assert response.status_code == 400
    assert response.get_json() == {"error": reason}
    assert Inbox(store).counts() == {}


def test_an_oversized_body_gets_413_before_anything_else(app, store):
    body = b"{" + b" " * (1024 * 1024) + b"}"
    response = post(app, body, signature_header(SECRET, int(time.time()), body))
    assert response.status_code == 413
    assert Inbox(store).counts() == {}


def test_a_body_exactly_at_the_cap_is_read(app, store):
    event = se.event("invoice.paid", se.invoice("in_1"), 100, "evt_big")
    text = json.dumps(event)
    body = (text[:-1] + " " * (1024 * 1024 - len(text)) + "}").encode()
    assert len(body) == 1024 * 1024
    assert post(app, body, signature_header(SECRET, int(time.time()), body)).status_code == 200
