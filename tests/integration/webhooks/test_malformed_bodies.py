"""Signed but malformed bodies get 400 and store nothing, on SQLite and PostgreSQL (issue #11,
fault 4: they were answered 500, and Stripe retries a 500 for days). Each case is a body only
someone holding the secret could send, so the signature is valid and only the body is wrong."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from connector.sync.inbox import DEAD, MAX_DEPTH, EventEnvelope, Inbox
from connector.sync.signature import signature_header
from connector.sync.worker import Worker
from tests.fixtures import stripe_events as se
from tests.integration.webhooks.test_endpoint import SECRET, app, post  # noqa: F401


def event_text(**changes: object) -> str:
    event = se.event("invoice.paid", se.invoice("in_1"), 100, "evt_bad")
    event.update(changes)
    return json.dumps(event)


def nested(levels: int) -> str:
    """An event whose data.object carries `levels` nested lists in a metadata value."""
    text = event_text()
    return text[:-1] + ', "deep": ' + "[" * levels + "]" * levels + "}"


def with_object(**changes: object) -> str:
    event = se.event("invoice.paid", se.invoice("in_1"), 100, "evt_bad")
    event["data"]["object"].update(changes)
    return json.dumps(event)


LONG = "x" * 256
CASES = {
    "nested-past-the-decoder": nested(5000),
    "nested-past-the-cap": nested(MAX_DEPTH + 1),
    "created-2^63": event_text(created=2**63),
    "created-2^64": event_text(created=2**64),
    "created-negative": event_text(created=-(2**63) - 1),
    "integer-past-4300-digits": event_text()[:-1] + ', "amount": ' + "9" * 4400 + "}",
    "event-id-256": event_text(id="evt_" + LONG),
    "type-256": event_text(type="invoice." + LONG),
    "unhandled-type-256": json.dumps({"id": "evt_t", "type": "x." + LONG}),
    "object-id-256": with_object(id="in_" + LONG),
    "object-kind-256": with_object(object=LONG),
    "customer-256": with_object(customer="cus_" + LONG),
    "event-id-nul": event_text(id="evt_\u0000"),
    "object-id-lone-surrogate": with_object(id="in_\ud800"),
    "nan": event_text()[:-1] + ', "score": NaN}',
    "infinity": event_text()[:-1] + ', "score": -Infinity}',
    "json-array": "[1, 2]",
    "json-string": '"evt_1"',
    "json-null": "null",
    "empty": "",
    "utf8-bom": "\ufeff" + event_text(),
    # The kind of `type` is checked before it is looked up among handled types (a list or
    # object is unhashable: the lookup raised TypeError and the answer was 500).
    "type-object": event_text(type={"a": 1}),
    "type-list": event_text(type=["invoice.paid"]),
    "type-number": event_text(type=1),
    "type-null": event_text(type=None),
}


@pytest.mark.parametrize("body", CASES.values(), ids=CASES.keys())
def test_a_signed_malformed_body_gets_400_and_nothing_is_stored(app, store, body):  # noqa: F811
    raw = body.encode("utf-8", "surrogatepass")
    response = post(app, raw, signature_header(SECRET, int(time.time()), raw))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert "error" in response.get_json()
    assert Inbox(store).counts() == {}


def test_bad_utf8_gets_400(app, store):  # noqa: F811
    raw = event_text().encode()[:-1] + b'"\xc3\x28"}'
    response = post(app, raw, signature_header(SECRET, int(time.time()), raw))
    assert response.status_code == 400 and Inbox(store).counts() == {}


def test_the_deepest_allowed_body_and_the_longest_ids_are_stored(app, store):  # noqa: F811
    text = json.dumps(
        se.event("invoice.paid", se.invoice("in_" + "y" * 252), 100, "evt_" + "z" * 251)
    )
    raw = text[:-1].encode() + b', "deep": ' + b"[" * (MAX_DEPTH - 1) + b"]" * (MAX_DEPTH - 1)
    raw += b"}"
    assert post(app, raw, signature_header(SECRET, int(time.time()), raw)).status_code == 200
    assert Inbox(store).get("evt_" + "z" * 251)["object_id"] == "in_" + "y" * 252


def test_a_stored_payload_that_cannot_be_read_is_dead_at_once_and_blocks_no_claim(store):
    # Rows stored before the door checked depth: one must not fail every later claim.
    # A customer of its own: key locks are per database, and other runs share the server.
    customer = f"cus_{uuid.uuid4().hex}"
    good = se.event("invoice.paid", se.invoice("in_2", customer=customer), 101, "evt_good")
    bad = se.event("invoice.paid", se.invoice("in_1", customer=customer), 100, "evt_deep")
    inbox = Inbox(store)
    inbox.record(EventEnvelope.parse(bad), "[" * 5000 + "]" * 5000, now=1.0, handled=True)
    inbox.record(EventEnvelope.parse(good), json.dumps(good), now=1.0, handled=True)

    class Seen:
        events: list[str] = []

        def dispatch(self, event):
            self.events.append(event["id"])
            return "done"

    seen = Seen()
    Worker(store, seen, max_attempts=10).run_until_idle()
    row = inbox.get("evt_deep")
    assert (row["status"], row["attempts"]) == (DEAD, 1)
    assert "not readable" in row["last_error"]
    assert seen.events == ["evt_good"]
