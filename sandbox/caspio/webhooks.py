"""Caspio outgoing webhooks: table events POSTed to a configured URL.

The payload is Caspio's default one (reference §6): ``eventId, messageId, webhookId,
accountId, secret, eventDate, eventType, objectName, data`` with ``data`` an array of rows
as the REST API returns them and ``secret`` filled with the configured secret (the
documented "compatibility mode"; the HMAC header of Caspio 73.0 has no public name, so it
is not sent). ``eventId`` and ``webhookId`` name the configuration and stay the same;
``messageId`` is new per message and the same on every retry (at-least-once delivery).

Delivery runs on one background thread; a non-2xx answer or a connection error is retried
up to ``max_attempts`` in all with doubling backoff. ``wait_idle`` lets tests wait for the
queue to drain without polling.
"""

from __future__ import annotations

import json
import queue
import secrets
import string
import threading
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import requests

from sandbox.caspio.clock import Clock, utc_datetime
from sandbox.caspio.fieldtypes import format_datetime

EVENT_TYPES = ("table.recordInsert", "table.recordUpdate", "table.recordDelete")


def short_id() -> str:
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))


@dataclass(frozen=True)
class WebhookTarget:
    table: str
    url: str
    secret: str
    webhook_id: str
    events: dict[str, str]  # event type -> eventId

    def to_json(self) -> dict[str, Any]:
        return {"table": self.table, "url": self.url, "webhookId": self.webhook_id,
                "events": sorted(self.events)}


@dataclass(frozen=True)
class Route:
    """Where one event goes: a URL, the webhook's secret and the ids put in the payload."""

    url: str
    secret: str
    webhook_id: str
    event_id: str
    #: For update events: fire only when one of these fields changes (empty: any field).
    fields: tuple[str, ...] = ()


@dataclass
class Delivery:
    message_id: str
    url: str
    payload: dict[str, Any]
    attempts: int = 0
    statuses: list[int] = field(default_factory=list)  # 0: no HTTP answer
    delivered: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


class WebhookDispatcher:
    def __init__(self, clock: Clock, account_id: str, max_attempts: int = 4,
                 backoff_seconds: float = 0.05, timeout_seconds: float = 5.0,
                 post: Callable[..., requests.Response] | None = None,
                 max_logged: int = 10_000) -> None:
        self.clock = clock
        self.account_id = account_id
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.timeout_seconds = timeout_seconds
        self._post = post or requests.post
        self._targets: dict[str, WebhookTarget] = {}
        #: More routes for (table, event type), e.g. webhooks made through the REST API.
        self.extra_routes: Callable[[str, str], list[Route]] = lambda table, event: []
        # Bounded: a soak run inserts far more rows than anyone will inspect.
        self._deliveries: deque[Delivery] = deque(maxlen=max_logged)
        self._queue: queue.Queue[Delivery | None] = queue.Queue()
        self._idle = threading.Condition()
        self._pending = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------ configuration

    def configure(self, table: str, url: str, secret: str,
                  events: tuple[str, ...] | list[str] = ("table.recordInsert",),
                  webhook_id: str | None = None) -> WebhookTarget:
        unknown = sorted(set(events) - set(EVENT_TYPES))
        if unknown:
            raise ValueError(f"unknown event types: {', '.join(unknown)}")
        if not url.startswith(("http://", "https://")):
            raise ValueError("the webhook URL must be http(s)")
        target = WebhookTarget(table=table, url=url, secret=secret,
                               webhook_id=webhook_id or short_id(),
                               events={event: short_id() for event in events})
        with self._lock:
            self._targets[table.lower()] = target
        return target

    def targets(self) -> list[WebhookTarget]:
        with self._lock:
            return list(self._targets.values())

    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def counters(self, webhook_id: str) -> dict[str, int]:
        """Messages, delivery calls and failed calls of one webhook (from the log)."""
        with self._lock:
            mine = [d for d in self._deliveries if d.payload["webhookId"] == webhook_id]
            return {
                "Messages": len(mine),
                "Calls": sum(d.attempts for d in mine),
                "Errors": sum(1 for d in mine for status in d.statuses
                              if not 200 <= status < 300),
            }

    def reset(self) -> None:
        """Forget targets and the delivery log (waits for the queue first)."""
        self.wait_idle(timeout=10)
        with self._lock:
            self._targets.clear()
            self._deliveries.clear()

    # ------------------------------------------------------------ events

    def emit(self, table: str, event_type: str, rows: list[dict[str, Any]]) -> None:
        """Queue one message per row and route watching this table and event."""
        if not rows:
            return
        routes = self._control_routes(table, event_type) + self.extra_routes(table, event_type)
        for route in routes:
            for row in rows:
                self._queue_message(route, table, event_type, row)

    def emit_update(self, table: str, rows: list[dict[str, Any]],
                    before: list[dict[str, Any]], written: frozenset[str]) -> None:
        """Update events fire only when a watched field really changed (DOC-WH)."""
        event_type = "table.recordUpdate"
        routes = self._control_routes(table, event_type) + self.extra_routes(table, event_type)
        for route in routes:
            watched = set(route.fields or written) & written
            for old, new in zip(before, rows, strict=True):
                if any(old.get(name) != new.get(name) for name in watched):
                    self._queue_message(route, table, event_type, new)

    def _control_routes(self, table: str, event_type: str) -> list[Route]:
        with self._lock:
            target = self._targets.get(table.lower())
        if target is None or event_type not in target.events:
            return []
        return [Route(target.url, target.secret, target.webhook_id, target.events[event_type])]

    def _queue_message(self, route: Route, table: str, event_type: str,
                       row: dict[str, Any]) -> None:
        message_id = str(uuid.uuid4())
        payload: dict[str, Any] = {
            "eventId": route.event_id,
            "messageId": message_id,
            "webhookId": route.webhook_id,
            "accountId": self.account_id,
            "secret": route.secret,
            "eventDate": format_datetime(utc_datetime(self.clock).replace(microsecond=0)),
            "eventType": event_type,
            "objectName": table,
            "data": [row],
        }
        delivery = Delivery(message_id, route.url, payload)
        with self._lock:
            self._deliveries.append(delivery)
        with self._idle:
            self._pending += 1
        self._ensure_thread()
        self._queue.put(delivery)

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until every queued message is delivered or given up; False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout=timeout)

    def close(self) -> None:
        self._stop.set()
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ------------------------------------------------------------ delivery

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="caspio-webhooks",
                                                daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            delivery = self._queue.get()
            if delivery is None:
                return
            try:
                self._deliver(delivery)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()

    def _deliver(self, delivery: Delivery) -> None:
        body = json.dumps(delivery.payload, ensure_ascii=False).encode("utf-8")
        for attempt in range(self.max_attempts):
            # Wait before a retry; returns early only when the emulator closes.
            if attempt and self._stop.wait(self.backoff_seconds * 2 ** (attempt - 1)):
                return
            delivery.attempts += 1
            try:
                answer = self._post(delivery.url, data=body,
                                    headers={"Content-Type": "application/json; charset=utf-8"},
                                    timeout=self.timeout_seconds)
                status = answer.status_code
                answer.close()
            except requests.RequestException:
                status = 0
            delivery.statuses.append(status)
            if 200 <= status < 300:
                delivery.delivered = True
                return
