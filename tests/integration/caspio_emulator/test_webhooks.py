"""Outgoing webhooks: Caspio's default payload POSTed on record events, with retries."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
import requests
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from sandbox.caspio.server import RunningEmulator

from .conftest import RawApi, assert_caspio_error


class _Quiet(WSGIRequestHandler):
    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        return None


@dataclass
class Receiver:
    """A loopback webhook target answering scripted statuses (then 200)."""

    server: BaseWSGIServer
    received: list[dict[str, Any]] = field(default_factory=list)
    content_types: list[str] = field(default_factory=list)
    script: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/caspio-hook"

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        request = Request(environ)
        self.received.append(json.loads(request.get_data(as_text=True)))
        self.content_types.append(request.content_type or "")
        status = self.script.pop(0) if self.script else 200
        return Response("ok", status=status)(environ, start_response)


@pytest.fixture(scope="module")
def receiver_server() -> Iterator[Receiver]:
    receiver = Receiver(server=None)  # type: ignore[arg-type]
    server = make_server("127.0.0.1", 0, receiver, threaded=True, request_handler=_Quiet)
    receiver.server = server
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield receiver
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def receiver(receiver_server: Receiver) -> Receiver:
    receiver_server.received.clear()
    receiver_server.content_types.clear()
    receiver_server.script.clear()
    return receiver_server


@pytest.fixture
def hooked(api: RawApi, receiver: Receiver) -> RawApi:
    api.create_table("Billing_Subscriptions", [
        {"Name": "SubscriptionKey", "Type": "STRING", "Unique": True},
        {"Name": "Amount", "Type": "CURRENCY"},
    ])
    api.running.controls.configure_webhook("billing_subscriptions", receiver.url, "s3cret")
    return api


def wait_for_deliveries(running: RunningEmulator) -> None:
    assert running.controls.webhooks.wait_idle(timeout=10)


def test_insert_posts_the_default_payload(hooked: RawApi, receiver: Receiver):
    row = hooked.insert("Billing_Subscriptions", {"SubscriptionKey": "sub-1", "Amount": 9.5})
    wait_for_deliveries(hooked.running)
    assert len(receiver.received) == 1
    payload = receiver.received[0]
    assert list(payload) == ["eventId", "messageId", "webhookId", "accountId", "secret",
                             "eventDate", "eventType", "objectName", "data"]
    assert payload["secret"] == "s3cret"
    assert payload["eventType"] == "table.recordInsert"
    assert payload["objectName"] == "Billing_Subscriptions"
    assert payload["data"] == [row]
    assert len(payload["eventId"]) == 6
    assert len(payload["messageId"]) == 36
    assert "T" in payload["eventDate"]
    assert not payload["eventDate"].endswith("Z")
    assert receiver.content_types[0].startswith("application/json")


def test_only_configured_events_fire(hooked: RawApi, receiver: Receiver):
    hooked.insert("Billing_Subscriptions", {"SubscriptionKey": "sub-1"})
    hooked.put("/tables/Billing_Subscriptions/records", params={"q.where": "PK_ID = 1"},
               json={"Amount": 1})
    hooked.delete("/tables/Billing_Subscriptions/records", params={"q.where": "PK_ID = 1"})
    wait_for_deliveries(hooked.running)
    assert [p["eventType"] for p in receiver.received] == ["table.recordInsert"]


def test_update_and_delete_events_when_configured(api: RawApi, receiver: Receiver):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    api.running.controls.configure_webhook(
        "T", receiver.url, "x", events=["table.recordUpdate", "table.recordDelete"])
    api.insert("T", {"N": 1})
    api.put("/tables/T/records", params={"q.where": "N = 1"}, json={"N": 2})
    api.delete("/tables/T/records", params={"q.where": "N = 2"})
    wait_for_deliveries(api.running)
    assert [(p["eventType"], p["data"][0]["N"]) for p in receiver.received] == [
        ("table.recordUpdate", 2), ("table.recordDelete", 2)]


def test_failed_deliveries_are_retried_with_the_same_message(hooked: RawApi,
                                                             receiver: Receiver):
    receiver.script.extend([500, 503])
    hooked.insert("Billing_Subscriptions", {"SubscriptionKey": "sub-1"})
    wait_for_deliveries(hooked.running)
    assert len(receiver.received) == 3
    assert len({p["messageId"] for p in receiver.received}) == 1
    delivery = hooked.running.controls.webhooks.deliveries()[-1]
    assert (delivery.attempts, delivery.statuses, delivery.delivered) == (3, [500, 503, 200],
                                                                         True)


def test_delivery_gives_up_after_the_last_attempt(hooked: RawApi, receiver: Receiver):
    receiver.script.extend([500] * 10)
    hooked.insert("Billing_Subscriptions", {"SubscriptionKey": "sub-1"})
    wait_for_deliveries(hooked.running)
    assert len(receiver.received) == 4  # the first try and three retries
    assert hooked.running.controls.webhooks.deliveries()[-1].delivered is False


def test_unreachable_target_counts_as_failed(api: RawApi):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    # A port nobody listens on: bind one, close it, use its number.
    probe = make_server("127.0.0.1", 0, lambda e, s: [])
    port = probe.server_port
    probe.server_close()
    api.running.controls.configure_webhook("T", f"http://127.0.0.1:{port}/x", "x")
    api.insert("T", {"N": 1})
    wait_for_deliveries(api.running)
    delivery = api.running.controls.webhooks.deliveries()[-1]
    assert (delivery.statuses, delivery.delivered) == ([0, 0, 0, 0], False)


def test_webhooks_configured_over_http(api: RawApi, receiver: Receiver):
    base = api.running.base_url
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    answer = requests.post(base + "/_emulator/webhooks", timeout=10,
                           json={"table": "T", "url": receiver.url, "secret": "abc"})
    assert answer.status_code == 201
    assert answer.json()["events"] == ["table.recordInsert"]
    api.insert("T", {"N": 7})
    wait_for_deliveries(api.running)
    listing = requests.get(base + "/_emulator/webhooks", timeout=10).json()
    assert listing["targets"][0]["table"] == "T"
    assert listing["deliveries"][0]["delivered"] is True
    assert receiver.received[0]["secret"] == "abc"
    bad = requests.post(base + "/_emulator/webhooks", timeout=10,
                        json={"table": "T", "url": receiver.url, "events": ["nope"]})
    assert bad.status_code == 400


# ---------------------------------------------------------------- the v3 REST API


def test_webhook_made_through_the_rest_api_delivers(api: RawApi, receiver: Receiver):
    api.create_table("Billing_Subscriptions", [{"Name": "SubKey", "Type": "STRING"}])
    created = api.post("/outgoingWebhooks", json={
        "Name": "bridge", "Description": "new rows", "OutgoingUrls": [receiver.url]})
    assert created.status_code == 201
    hook = created.json()
    assert set(hook) == {"Id", "Name", "Description", "OutgoingUrls", "CallThrottling",
                         "Secret", "DateCreated", "CreatedBy"}
    event = api.post(f"/outgoingWebhooks/{hook['Id']}/events", json={
        "EventType": "table.recordInsert", "ObjectName": "billing_subscriptions"})
    assert event.status_code == 201
    assert event.json()["ObjectName"] == "Billing_Subscriptions"
    row = api.insert("Billing_Subscriptions", {"SubKey": "s1"})
    wait_for_deliveries(api.running)
    payload = receiver.received[0]
    assert (payload["secret"], payload["webhookId"], payload["eventId"]) == (
        hook["Secret"], hook["Id"], event.json()["Id"])
    assert payload["data"] == [row]
    listed = api.get("/outgoingWebhooks").json()
    assert isinstance(listed, list)
    assert "Secret" not in listed[0]
    described = api.get(f"/outgoingWebhooks/{hook['Id']}").json()
    assert (described["Events"], described["Messages"], described["Calls"],
            described["Errors"]) == (1, 1, 1, 0)


def test_disabled_deleted_or_datapage_only_webhooks_stay_quiet(api: RawApi,
                                                               receiver: Receiver):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    hook = api.post("/outgoingWebhooks", json={"Name": "a", "OutgoingUrls": [receiver.url]})
    hook_id = hook.json()["Id"]
    api.post(f"/outgoingWebhooks/{hook_id}/events",
             json={"EventType": "table.recordInsert", "ObjectName": "T"})
    disabled = api.put(f"/outgoingWebhooks/{hook_id}", json={"Enabled": False})
    assert disabled.json()["Status"] == "Inactive"
    events = api.get(f"/outgoingWebhooks/{hook_id}/events").json()
    assert [e["Status"] for e in events] == ["Inactive"]  # Enabled applies to all events
    api.insert("T", {"N": 1})
    other = api.post("/outgoingWebhooks", json={"Name": "b", "OutgoingUrls": [receiver.url]})
    api.post(f"/outgoingWebhooks/{other.json()['Id']}/events", json={
        "EventType": "table.recordInsert", "ObjectName": "T", "EventSources": ["DataPages"]})
    api.insert("T", {"N": 2})
    wait_for_deliveries(api.running)
    assert receiver.received == []
    assert api.delete(f"/outgoingWebhooks/{hook_id}").status_code == 204
    assert_caspio_error(api.get(f"/outgoingWebhooks/{hook_id}"), 404, "ObjectNotFound")


@pytest.mark.parametrize(("body", "code"), [
    ({"Name": "dup", "OutgoingUrls": ["https://example.invalid/x"]}, "ObjectExists"),
    ({"Name": "x", "OutgoingUrls": []}, "IncorrectBodyParameter"),
    ({"Name": "x", "OutgoingUrls": ["ftp://x"]}, "IncorrectBodyParameter"),
    ({"Name": "", "OutgoingUrls": ["https://example.invalid/x"]}, "IncorrectBodyParameter"),
    ({"Name": "x", "OutgoingUrls": ["https://a.invalid", "https://a.invalid"]},
     "IncorrectBodyParameter"),
    ({"Name": "x", "OutgoingUrls": ["https://a.invalid"], "Colour": 1},
     "IncorrectBodyParameter"),
])
def test_webhook_validation(api: RawApi, body: dict[str, Any], code: str):
    api.post("/outgoingWebhooks", json={"Name": "dup",
                                        "OutgoingUrls": ["https://example.invalid/x"]})
    assert_caspio_error(api.post("/outgoingWebhooks", json=body), 400, code)


def test_event_validation(api: RawApi):
    api.create_table("T", [{"Name": "N", "Type": "INTEGER"}])
    hook_id = api.post("/outgoingWebhooks", json={
        "Name": "a", "OutgoingUrls": ["https://example.invalid/x"]}).json()["Id"]
    events = f"/outgoingWebhooks/{hook_id}/events"
    assert api.post(events, json={"EventType": "table.recordInsert",
                                  "ObjectName": "T"}).status_code == 201
    assert_caspio_error(api.post(events, json={"EventType": "table.recordInsert",
                                               "ObjectName": "t"}), 400, "ObjectExists")
    assert api.post(events, json={"EventType": "table.recordUpdate", "ObjectName": "T",
                                  "ObjectFields": ["N"]}).status_code == 201
    assert_caspio_error(api.post(events, json={"EventType": "row.created", "ObjectName": "T"}),
                        400, "IncorrectBodyParameter")
    assert_caspio_error(api.post(events, json={"EventType": "table.recordDelete",
                                               "ObjectName": "Nope"}), 404, "ObjectNotFound")
    assert_caspio_error(api.post(events, json={
        "EventType": "table.recordDelete", "ObjectName": "T",
        "CustomPayloadTemplate": "{'a': '[@field:N]'}"}), 400, "IncorrectBodyParameter")
    assert_caspio_error(api.post("/outgoingWebhooks/nope/events", json={
        "EventType": "table.recordDelete", "ObjectName": "T"}), 404, "ObjectNotFound")
    listed = api.get(events).json()
    assert len(listed) == 2
    assert api.delete(f"{events}/{listed[0]['Id']}").status_code == 204
    assert_caspio_error(api.get(f"{events}/{listed[0]['Id']}"), 404, "ObjectNotFound")
    assert len(api.get(events).json()) == 1
    v2 = api.running.base_url + "/rest/v2/outgoingWebhooks"
    assert requests.get(v2, timeout=10).status_code == 404


def test_update_events_fire_only_when_a_watched_field_changes(api: RawApi, receiver: Receiver):
    api.create_table("T", [{"Name": "Status", "Type": "STRING"},
                           {"Name": "Note", "Type": "STRING"}])
    hook_id = api.post("/outgoingWebhooks", json={
        "Name": "a", "OutgoingUrls": [receiver.url]}).json()["Id"]
    events = f"/outgoingWebhooks/{hook_id}/events"
    event_id = api.post(events, json={"EventType": "table.recordUpdate", "ObjectName": "T",
                                      "ObjectFields": ["Status"]}).json()["Id"]
    api.insert("T", {"Status": "new", "Note": "x"})
    where = {"q.where": "PK_ID = 1"}
    api.put("/tables/T/records", params=where, json={"Note": "changed"})  # not watched
    api.put("/tables/T/records", params=where, json={"Status": "new"})  # no change
    api.put("/tables/T/records", params=where, json={"Status": "paid"})  # fires
    wait_for_deliveries(api.running)
    assert [p["data"][0]["Status"] for p in receiver.received] == ["paid"]
    # A PUT carries the whole definition: now any field change fires.
    replaced = api.put(f"{events}/{event_id}", json={"EventType": "table.recordUpdate",
                                                     "ObjectName": "T"})
    assert (replaced.status_code, replaced.json()["ObjectFields"]) == (200, [])
    api.put("/tables/T/records", params=where, json={"Note": "again"})
    wait_for_deliveries(api.running)
    assert len(receiver.received) == 2
    assert_caspio_error(api.put(f"{events}/{event_id}", json={"Enabled": False}), 400,
                        "IncorrectBodyParameter")
    assert_caspio_error(api.put(f"/outgoingWebhooks/{hook_id}", json={}), 400,
                        "IncorrectBodyParameter")
