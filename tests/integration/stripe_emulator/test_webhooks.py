"""Events and signed webhook deliveries, verified with stripe-python's own checker."""

from __future__ import annotations

import json

import requests
import stripe

from sandbox.stripe import run_emulator

from .conftest import DAY, customer_with_card, monthly_price, subscribe
from .receiver import Receiver


def _endpoint(client: stripe.StripeClient, receiver: Receiver, events=("*",), **extra):
    return client.v1.webhook_endpoints.create(
        {"url": receiver.url, "enabled_events": list(events), **extra}
    )


def _verified(receiver: Receiver, secret: str) -> list[stripe.Event]:
    return [stripe.Webhook.construct_event(r.body, r.signature, secret) for r in receiver.received]


def test_every_delivery_verifies(stripe_emulator, stripe_client, receiver: Receiver) -> None:
    endpoint = _endpoint(stripe_client, receiver)
    assert endpoint.secret.startswith("whsec_")
    assert "secret" not in stripe_client.v1.webhook_endpoints.retrieve(endpoint.id)

    price = monthly_price(stripe_client)
    sub = subscribe(stripe_client, customer_with_card(stripe_client), price)
    signup_ids = {e.id for e in stripe_client.v1.events.list({"limit": 100}).data}
    stripe_emulator.advance(sub["items"].data[0].current_period_end - stripe_emulator.now())
    assert stripe_emulator.wait_idle(10)

    events = _verified(receiver, endpoint.secret)
    listed = {e.id for e in stripe_client.v1.events.list({"limit": 100}).data}
    assert sorted(e.id for e in events) == sorted(signup_ids | listed)
    assert all(e.api_version == "2026-10-28.endive" for e in events)
    types = [e.type for e in events]
    assert types.count("invoice.paid") == 2
    assert "customer.subscription.created" in types and "customer.created" in types
    assert all(e.pending_webhooks == 1 and e.livemode is False for e in events)
    signup = next(e for e in events if e.type == "customer.subscription.created")
    assert signup.request.id.startswith("req_") and signup.request.idempotency_key
    renewal = [e for e in events if e.type == "invoice.paid"][-1]
    assert renewal.request.id is None  # made by the clock, not by a request
    # a wrong secret fails
    first = receiver.received[0]
    try:
        stripe.Webhook.construct_event(first.body, first.signature, "whsec_wrong")
    except stripe.SignatureVerificationError:
        pass
    else:
        raise AssertionError("a wrong secret verified")


def test_receiver_answering_500_gets_the_event_again(
    stripe_emulator, stripe_client, receiver: Receiver
) -> None:
    endpoint = _endpoint(stripe_client, receiver, ["customer.created"])
    receiver.answer_next(500)

    customer = stripe_client.v1.customers.create({"email": "x@example.com"})
    assert stripe_emulator.wait_idle(10)

    events = _verified(receiver, endpoint.secret)
    assert [e.type for e in events] == ["customer.created", "customer.created"]
    assert events[0].id == events[1].id and events[0].data.object.id == customer.id
    attempts = [(d.attempt, d.status) for d in stripe_emulator.emulator.deliveries]
    assert attempts == [(1, 500), (2, 200)]


def test_gives_up_after_max_attempts(stripe_emulator, stripe_client, receiver: Receiver) -> None:
    _endpoint(stripe_client, receiver, ["customer.created"])
    receiver.answer_next(500, 503, 502, 500)
    stripe_client.v1.customers.create()
    assert stripe_emulator.wait_idle(10)
    assert len(receiver.received) == 3  # the fixture allows three attempts


def test_enabled_events_filter_and_api_version(stripe_emulator, stripe_client, receiver) -> None:
    endpoint = _endpoint(stripe_client, receiver, ["invoice.paid"], api_version="2025-03-31.basil")
    subscribe(stripe_client, customer_with_card(stripe_client), monthly_price(stripe_client))
    assert stripe_emulator.wait_idle(10)
    events = _verified(receiver, endpoint.secret)
    assert [(e.type, e.api_version) for e in events] == [("invoice.paid", "2025-03-31.basil")]


def test_previous_attributes_on_update(stripe_emulator, stripe_client, receiver) -> None:
    customer = stripe_client.v1.customers.create({"email": "a@example.com", "metadata": {"k": "1"}})
    endpoint = _endpoint(stripe_client, receiver, ["customer.updated"])
    stripe_client.v1.customers.update(
        customer.id, {"email": "b@example.com", "metadata": {"k": "2"}}
    )
    assert stripe_emulator.wait_idle(10)
    (event,) = _verified(receiver, endpoint.secret)
    assert event.data.previous_attributes.to_dict() == {
        "email": "a@example.com",
        "metadata": {"k": "1"},
    }
    assert event.data.object.email == "b@example.com"


def test_duplicate_and_reorder_faults(stripe_emulator, stripe_client, receiver) -> None:
    endpoint = _endpoint(stripe_client, receiver)
    stripe_emulator.emulator.set_delivery_faults(duplicate_every=2, reorder=True, seed=3)
    subscribe(stripe_client, customer_with_card(stripe_client), monthly_price(stripe_client))
    assert stripe_emulator.wait_idle(10)

    received = [e.id for e in _verified(receiver, endpoint.secret)]
    created = [e.id for e in reversed(stripe_client.v1.events.list({"limit": 100}).data)]
    assert set(received) == set(created)
    assert len(received) == len(created) + len(created) // 2  # every second one twice
    deduped = list(dict.fromkeys(received))
    assert deduped != created  # the subscription batch arrived shuffled


def test_drop_first_attempts_fault(stripe_emulator, stripe_client, receiver) -> None:
    _endpoint(stripe_client, receiver, ["customer.created"])
    requests.post(
        f"{stripe_emulator.base_url}/_emulator/delivery_faults",
        json={"drop_first_attempts": 2},
        timeout=5,
    )
    stripe_client.v1.customers.create()
    assert stripe_emulator.wait_idle(10)
    assert len(receiver.received) == 1
    assert [d.attempt for d in stripe_emulator.emulator.deliveries] == [1, 2, 3]
    listed = requests.get(f"{stripe_emulator.base_url}/_emulator/deliveries", timeout=5).json()
    assert [d["status"] for d in listed["data"]] == [None, None, 200]


def test_events_newest_first_and_retrieve(stripe_client) -> None:
    customer = stripe_client.v1.customers.create()
    stripe_client.v1.customers.update(customer.id, {"name": "N"})
    stripe_client.v1.customers.delete(customer.id)
    events = stripe_client.v1.events.list()
    assert [e.type for e in events.data] == [
        "customer.deleted",
        "customer.updated",
        "customer.created",
    ]
    one = stripe_client.v1.events.retrieve(events.data[1].id)
    assert one.data.object.name == "N"
    page = stripe_client.v1.events.list({"limit": 1, "starting_after": events.data[0].id})
    assert [e.type for e in page.data] == ["customer.updated"] and page.has_more
    assert [e.type for e in stripe_client.v1.events.list({"type": "customer.*"}).data] == [
        e.type for e in events.data
    ]


def test_events_are_kept_for_30_days(stripe_emulator, stripe_client) -> None:
    stripe_client.v1.customers.create()
    stripe_emulator.advance(30 * DAY + 1)
    kept = stripe_client.v1.customers.create()
    assert [e.data.object.id for e in stripe_client.v1.events.list().data] == [kept.id]


def test_python_side_endpoint_and_disabled_endpoint(
    stripe_emulator, stripe_client, receiver
) -> None:
    endpoint = stripe_emulator.emulator.add_webhook_endpoint(
        receiver.url, secret="whsec_test123", events=["customer.created"]
    )
    stripe_client.v1.customers.create()
    stripe_client.v1.webhook_endpoints.update(endpoint["id"], {"disabled": True})
    stripe_client.v1.customers.create()
    assert stripe_emulator.wait_idle(10)
    assert len(_verified(receiver, "whsec_test123")) == 1


def test_event_bodies_are_raw_json(stripe_emulator, stripe_client, receiver) -> None:
    _endpoint(stripe_client, receiver, ["customer.created"])
    stripe_client.v1.customers.create({"metadata": {"caspio": "1"}})
    (got,) = receiver.wait_for(1)
    body = json.loads(got.body)
    assert body["object"] == "event" and body["data"]["object"]["metadata"] == {"caspio": "1"}
    assert got.signature.startswith("t=") and ",v1=" in got.signature


def test_advance_delivers_clock_events(stripe_emulator, stripe_client, receiver) -> None:
    sub = subscribe(stripe_client, customer_with_card(stripe_client), monthly_price(stripe_client))
    endpoint = _endpoint(stripe_client, receiver, ["invoice.created", "invoice.paid"])
    stripe_emulator.advance(sub["items"].data[0].current_period_end - stripe_emulator.now() + DAY)
    assert stripe_emulator.wait_idle(10)
    assert sorted(e.type for e in _verified(receiver, endpoint.secret)) == [
        "invoice.created",
        "invoice.paid",
    ]


def test_parallel_delivery_workers(receiver) -> None:
    with run_emulator(webhook_workers=4, webhook_retry_base=0.0) as handle:
        client = stripe.StripeClient(handle.api_key, base_addresses={"api": handle.base_url})
        endpoint = client.v1.webhook_endpoints.create(
            {"url": receiver.url, "enabled_events": ["customer.created"]}
        )
        created = {client.v1.customers.create().id for _ in range(12)}
        assert handle.wait_idle(10)
        got = {e.data.object.id for e in _verified(receiver, endpoint.secret)}
        assert got == created


def test_rolled_secret_signs_with_both(stripe_emulator, stripe_client, receiver) -> None:
    endpoint = _endpoint(stripe_client, receiver, ["customer.created"])
    new_secret = stripe_emulator.emulator.roll_webhook_secret(endpoint.id)
    stripe_client.v1.customers.create()
    (got,) = receiver.wait_for(1)
    assert got.signature.count("v1=") == 2
    for secret in (endpoint.secret, new_secret):
        assert stripe.Webhook.construct_event(got.body, got.signature, secret).type == (
            "customer.created"
        )
    stripe_emulator.emulator.roll_webhook_secret(endpoint.id, keep_old=False)
    stripe_client.v1.customers.create()
    assert stripe_emulator.wait_idle(10)
    assert receiver.received[-1].signature.count("v1=") == 1
