"""Stripe API versions: the one the bridge reads, and the ones its events arrive in.

Stripe renders a webhook event's `data.object` in the *endpoint's* API version (an endpoint
made in the Stripe dashboard gets the account's default version, possibly older), not the
version of the client that made the object ([Stripe docs: Webhook versioning];
`WebhookEndpoint.api_version`, null meaning the account's default). The handlers read only
the pinned version's shapes (`STRIPE_API_VERSION`): an older `invoice.paid` names its
subscription at the top level, not under `parent`, and would be read as a payment of no
subscription. So:

- the worker re-reads the object of any event rendered in another version from Stripe (at
  the pinned version) before a handler sees it; when it cannot (the object is gone, no
  Stripe reader, an object type it cannot read) the event is parked `dead` with an error
  naming both versions (`ApiVersionMismatch`, never retried);
- `check-config` lists the webhook endpoints and reports one sending to the bridge in
  another version (`endpoint_version_problems`);
- `/readyz` reports when the newest event received was rendered in another version
  (`readiness_check`, registered by `connector.services` as `stripe_api_version`).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from connector.errors import BridgeError
from connector.stripe_gateway import STRIPE_API_VERSION

if TYPE_CHECKING:
    from connector.store import Store

PINNED = STRIPE_API_VERSION
READINESS_CHECK = "stripe_api_version"


class ApiVersionMismatch(BridgeError):
    """An event rendered in another API version whose object could not be re-read at the
    pinned one. Never retryable: a later attempt sees the same payload."""


def event_version(event: dict[str, Any]) -> str | None:
    """The API version an event (and its `data.object`) was rendered in; None if unsaid."""
    version = event.get("api_version")
    return version if isinstance(version, str) and version else None


def is_pinned(event: dict[str, Any]) -> bool:
    """Was the event rendered in the version the handlers read? An event that does not say
    is not assumed to be."""
    return event_version(event) == PINNED


def mismatch(event: dict[str, Any], why: str) -> ApiVersionMismatch:
    """The error that parks an event of another version, naming both versions and why."""
    obj = (event.get("data") or {}).get("object") or {}
    what = f"{obj.get('object') or 'object'} {obj.get('id') or '?'}"
    return ApiVersionMismatch(
        f"event {event.get('id')} ({event.get('type')}) was rendered in Stripe API version "
        f"{event_version(event) or 'unknown'}, the bridge reads {PINNED}; {what} {why}. "
        f"Set the webhook endpoint's API version to {PINNED} "
        "(caspio-stripe stripe setup-webhook makes one), then replay this event",
        code="api_version_mismatch",
    )


def endpoint_version_problems(endpoints: Iterable[Any], url: str) -> list[str]:
    """One line per enabled webhook endpoint sending to `url` whose `api_version` is not the
    pinned one (null: the account's default version, which may be anything).

    `endpoints`: Stripe WebhookEndpoint objects or dicts (`url`, `api_version`, `status`,
    `id`), e.g. `client.v1.webhook_endpoints.list().auto_paging_iter()`."""
    problems: list[str] = []
    for endpoint in endpoints:
        if _field(endpoint, "url") != url or _field(endpoint, "status") == "disabled":
            continue
        version = _field(endpoint, "api_version")
        if version != PINNED:
            shown = version or "the account's default version"
            problems.append(
                f"Stripe webhook endpoint {_field(endpoint, 'id')} for {url} sends events in "
                f"API version "
                f"{shown}, not {PINNED}; events are re-read from Stripe or parked dead. "
                f"Make a new endpoint with caspio-stripe stripe setup-webhook"
            )
    return problems


def _field(obj: Any, name: str) -> Any:
    """A field of a dict or of a stripe-python object."""
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def newest_event_version(store: Store) -> tuple[str, str | None] | None:
    """(event id, api_version) of the newest event received, or None when the inbox is
    empty. One query; reads one payload."""
    from connector.store import inbox_events

    e = inbox_events
    with store.engine.connect() as conn:
        row = conn.execute(
            sa.select(e.c.event_id, e.c.payload).order_by(e.c.received_at.desc()).limit(1)
        ).first()
    if row is None:
        return None
    try:
        body = json.loads(row.payload)
    except ValueError:
        return row.event_id, None
    return row.event_id, event_version(body) if isinstance(body, dict) else None


def readiness_check(
    store_source: Callable[[], Store],
    *,
    ttl_seconds: float = 60.0,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[], str | None]:
    """A `/readyz` check (see `connector.readiness`): None while the newest event received
    was rendered in the pinned version (or none has arrived, or it names no version, as a v2
    thin notification does); otherwise one line naming the version the endpoint sends.

    No Stripe call: the events themselves say what the endpoint sends. The answer is kept
    `ttl_seconds` (the inbox has no index on arrival time; probes come every few seconds)."""
    cached: list[tuple[float, str | None]] = []

    def check() -> str | None:
        now = clock()
        if cached and now - cached[0][0] < ttl_seconds:
            return cached[0][1]
        newest = newest_event_version(store_source())
        reason: str | None = None
        if newest is not None and newest[1] is not None and newest[1] != PINNED:
            event_id, version = newest
            reason = (
                f"webhook events arrive in Stripe API version {version} (newest: {event_id}), "
                f"not {PINNED}"
            )
        cached[:] = [(now, reason)]
        return reason

    return check
