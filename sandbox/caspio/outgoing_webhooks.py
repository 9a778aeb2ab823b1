"""The v3 ``/outgoingWebhooks`` API (reference §6; SWAG3 ``Webhook*`` schemas).

A webhook holds URLs, a secret (shown only in the create answer) and events; an event
watches one table for one of ``table.recordInsert|Update|Delete``. Deliveries use the
default payload (``sandbox.caspio.webhooks``).

From the spec's texts: ``Status`` is ``Active``/``Inactive``; ``Enabled`` on a webhook
sets the status of all its events; an event ``PUT`` carries the whole definition
(``EventType`` and ``ObjectName`` required); ``ObjectFields`` limits update events to
changes of those fields; ``GET /outgoingWebhooks`` is a bare array (N8N reads ``.Result``;
reference §9.7).

Emulator choices: ``http://`` URLs are accepted besides ``https://`` (loopback receivers
in tests); a custom payload is refused (400) rather than half-applied; an event whose
``EventSources`` leaves out ``RESTAPIs`` does not fire, since every write here comes through
the REST API; "one insert and one delete event per table per webhook" (DOC-WH) is enforced
with 400 ``ObjectExists``; ``DateCreated``/``LastModified`` carry a ``Z`` (the spec types
them ``date-time``), unlike record dates and the payload's ``eventDate``, which have no zone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sandbox.caspio.clock import Clock, utc_datetime
from sandbox.caspio.errors import bad_body, object_exists, object_not_found
from sandbox.caspio.fieldtypes import format_datetime
from sandbox.caspio.webhooks import EVENT_TYPES, Route, short_id

EVENT_SOURCES = ("Datasheet", "DataPages", "RESTAPIs", "TriggeredActions", "Tasks",
                 "DataParts", "Extensions")
CREATED_BY = "emulator"
_WEBHOOK_KEYS = {"Name", "Description", "OutgoingUrls", "CallThrottling"}
_EVENT_KEYS = {"EventType", "ObjectName", "ObjectFields", "EventSources", "CustomPayloadFields",
               "CustomPayloadTemplate", "Enabled"}


@dataclass
class WebhookEvent:
    id: str
    type: str
    object_name: str
    object_fields: list[str]
    event_sources: list[str]
    enabled: bool
    created: str
    modified: str

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id, "Type": self.type, "Status": _status(self.enabled),
            "ObjectName": self.object_name, "ObjectFields": self.object_fields,
            "EventSources": self.event_sources, "CustomPayloadFields": [],
            "CustomPayloadTemplate": None, "LastModified": self.modified,
            "ModifiedBy": CREATED_BY, "DateCreated": self.created, "CreatedBy": CREATED_BY,
        }

    def fires_on(self, table: str, event_type: str) -> bool:
        from_rest = not self.event_sources or "RESTAPIs" in self.event_sources
        return (self.enabled and from_rest and self.type == event_type
                and self.object_name.lower() == table.lower())


@dataclass
class Webhook:
    id: str
    name: str
    description: str
    urls: list[str]
    call_throttling: int
    secret: str
    enabled: bool
    created: str
    modified: str
    events: dict[str, WebhookEvent] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "Id": self.id, "Status": _status(self.enabled), "Name": self.name,
            "Description": self.description, "OutgoingUrls": self.urls,
            "CallThrottling": self.call_throttling, "LastModified": self.modified,
            "ModifiedBy": CREATED_BY, "DateCreated": self.created, "CreatedBy": CREATED_BY,
        }


def _status(enabled: bool) -> str:
    return "Active" if enabled else "Inactive"


class WebhookRegistry:
    """Webhooks and their events, as created through the REST API."""

    def __init__(self, clock: Clock, table_name: Callable[[str], str]) -> None:
        self.clock = clock
        #: Resolves a table name to its stored spelling, or raises ObjectNotFound.
        self.table_name = table_name
        self._lock = threading.RLock()  # re-entered: methods call webhook() under it
        self._webhooks: dict[str, Webhook] = {}

    def _now(self) -> str:
        return format_datetime(utc_datetime(self.clock).replace(microsecond=0)) + "Z"

    def reset(self) -> None:
        with self._lock:
            self._webhooks.clear()

    # ------------------------------------------------------------ webhooks

    def create(self, body: Any) -> dict[str, Any]:
        values = _object(body, _WEBHOOK_KEYS)
        name = _text(values, "Name", required=True)
        urls = _urls(values.get("OutgoingUrls"))
        now = self._now()
        webhook = Webhook(
            id=short_id(), name=name, description=_text(values, "Description"), urls=urls,
            call_throttling=_throttling(values.get("CallThrottling")),
            secret=short_id() + short_id() + short_id(), enabled=True, created=now,
            modified=now,
        )
        with self._lock:
            if any(w.name.lower() == name.lower() for w in self._webhooks.values()):
                raise object_exists(f"Outgoing webhook '{name}' already exists")
            self._webhooks[webhook.id] = webhook
        answer = webhook.to_json()
        # Only the create answer shows the secret (SWAG3 WebhookPostResponse).
        return {key: answer[key] for key in ("Id", "Name", "Description", "OutgoingUrls",
                                             "CallThrottling")} | {
            "Secret": webhook.secret, "DateCreated": webhook.created, "CreatedBy": CREATED_BY}

    def list_webhooks(self) -> list[dict[str, Any]]:
        with self._lock:
            return [w.to_json() for w in self._webhooks.values()]

    def webhook(self, webhook_id: str) -> Webhook:
        with self._lock:
            found = self._webhooks.get(webhook_id)
        if found is None:
            raise object_not_found()
        return found

    def describe(self, webhook_id: str, counters: dict[str, int]) -> dict[str, Any]:
        webhook = self.webhook(webhook_id)
        return webhook.to_json() | {"Events": len(webhook.events), **counters}

    def update(self, webhook_id: str, body: Any) -> dict[str, Any]:
        webhook = self.webhook(webhook_id)
        values = _object(body, _WEBHOOK_KEYS | {"Enabled"})
        if all(value is None for value in values.values()):
            raise bad_body("At least one property must be given")
        with self._lock:
            if values.get("Name") is not None:
                name = _text(values, "Name", required=True)
                if any(w.name.lower() == name.lower() and w is not webhook
                       for w in self._webhooks.values()):
                    raise object_exists(f"Outgoing webhook '{name}' already exists")
                webhook.name = name
            if values.get("Description") is not None:
                webhook.description = _text(values, "Description")
            if values.get("OutgoingUrls") is not None:
                webhook.urls = _urls(values["OutgoingUrls"])
            if values.get("CallThrottling") is not None:
                webhook.call_throttling = _throttling(values["CallThrottling"])
            if values.get("Enabled") is not None:
                # "configure statuses of all events related to this webhook" (spec)
                webhook.enabled = _flag(values, "Enabled")
                for event in webhook.events.values():
                    event.enabled = webhook.enabled
            webhook.modified = self._now()
            return webhook.to_json()

    def delete(self, webhook_id: str) -> None:
        self.webhook(webhook_id)
        with self._lock:
            self._webhooks.pop(webhook_id, None)

    # ------------------------------------------------------------ events

    def create_event(self, webhook_id: str, body: Any) -> dict[str, Any]:
        webhook = self.webhook(webhook_id)
        now = self._now()
        event = self._event_from(body, short_id(), now, now)
        with self._lock:
            _check_one_per_table(webhook, event)
            webhook.events[event.id] = event
        answer = event.to_json()
        return {key: answer[key] for key in ("Id", "Type", "Status", "ObjectName",
                                             "ObjectFields", "EventSources",
                                             "CustomPayloadFields", "CustomPayloadTemplate",
                                             "DateCreated", "CreatedBy")}

    def _event_from(self, body: Any, event_id: str, created: str,
                    modified: str) -> WebhookEvent:
        """Validate a ``WebhookEventRequest`` (the whole definition)."""
        values = _object(body, _EVENT_KEYS)
        event_type = values.get("EventType")
        if event_type not in EVENT_TYPES:
            raise bad_body(f"EventType must be one of {', '.join(EVENT_TYPES)}")
        if values.get("CustomPayloadTemplate") or values.get("CustomPayloadFields"):
            raise bad_body("A custom payload is not supported by the Caspio emulator")
        table = self.table_name(_text(values, "ObjectName", required=True))
        sources = _string_list(values.get("EventSources"), "EventSources")
        unknown = sorted(set(sources) - set(EVENT_SOURCES))
        if unknown:
            raise bad_body(f"Unknown EventSources: {', '.join(unknown)}")
        object_fields = _string_list(values.get("ObjectFields"), "ObjectFields")
        if object_fields and event_type != "table.recordUpdate":
            raise bad_body("ObjectFields applies only to table.recordUpdate")
        return WebhookEvent(
            id=event_id, type=str(event_type), object_name=table, object_fields=object_fields,
            event_sources=sources,
            enabled=True if values.get("Enabled") is None else _flag(values, "Enabled"),
            created=created, modified=modified,
        )

    def event(self, webhook_id: str, event_id: str) -> WebhookEvent:
        found = self.webhook(webhook_id).events.get(event_id)
        if found is None:
            raise object_not_found()
        return found

    def list_events(self, webhook_id: str) -> list[dict[str, Any]]:
        return [e.to_json() for e in self.webhook(webhook_id).events.values()]

    def update_event(self, webhook_id: str, event_id: str, body: Any) -> dict[str, Any]:
        webhook = self.webhook(webhook_id)
        current = self.event(webhook_id, event_id)
        event = self._event_from(body, current.id, current.created, self._now())
        with self._lock:
            _check_one_per_table(webhook, event)
            webhook.events[event.id] = event
        return event.to_json()

    def delete_event(self, webhook_id: str, event_id: str) -> None:
        self.event(webhook_id, event_id)
        with self._lock:
            self.webhook(webhook_id).events.pop(event_id, None)

    # ------------------------------------------------------------ delivery

    def routes(self, table: str, event_type: str) -> list[Route]:
        """Every (URL, secret) that an event on ``table`` goes to."""
        with self._lock:
            webhooks = [w for w in self._webhooks.values() if w.enabled]
            return [
                Route(url, webhook.secret, webhook.id, event.id, tuple(event.object_fields))
                for webhook in webhooks
                for event in webhook.events.values() if event.fires_on(table, event_type)
                for url in webhook.urls
            ]


# ---------------------------------------------------------------- body checks


def _check_one_per_table(webhook: Webhook, event: WebhookEvent) -> None:
    """One insert and one delete event per table per webhook; updates may repeat."""
    if event.type == "table.recordUpdate":
        return
    for other in webhook.events.values():
        if other.id != event.id and other.type == event.type \
                and other.object_name == event.object_name:
            raise object_exists(f"This webhook already has a {event.type} event for "
                                f"{event.object_name}")


def _object(body: Any, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_body("The request body must be a JSON object")
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise bad_body(f"Unknown properties: {', '.join(unknown)}")
    return body


def _text(values: dict[str, Any], key: str, required: bool = False) -> str:
    value = values.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()):
        raise bad_body(f"{key} must be a non-empty string" if required
                       else f"{key} must be a string")
    return value


def _flag(values: dict[str, Any], key: str) -> bool:
    value = values.get(key)
    if not isinstance(value, bool):
        raise bad_body(f"{key} must be true or false")
    return value


def _urls(value: Any) -> list[str]:
    urls = _string_list(value, "OutgoingUrls")
    if not urls:
        raise bad_body("OutgoingUrls must list at least one URL")
    if len(set(urls)) != len(urls):
        raise bad_body("OutgoingUrls must be unique")
    for url in urls:
        if not url.startswith(("https://", "http://")):
            raise bad_body(f"Not an http(s) URL: {url}")
    return urls


def _string_list(value: Any, key: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad_body(f"{key} must be a list of strings")
    return list(value)


def _throttling(value: Any) -> int:
    if value is None:
        return 10
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise bad_body("CallThrottling must be a positive integer")
    return value
