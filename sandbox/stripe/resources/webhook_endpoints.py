"""``/v1/webhook_endpoints``: where events are delivered, signed with the endpoint secret."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_bool, as_list, merge_metadata
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def _events(value: Any) -> list[str]:
    events = [str(e) for e in as_list(value, "enabled_events")]
    if not events:
        raise missing_param("enabled_events")
    return events


def _url(value: Any) -> str:
    if not isinstance(value, str) or not value.startswith(("http://", "https://")):
        raise invalid("Invalid URL: must be an http or https URL.", param="url", code="url_invalid")
    return value


def create_endpoint(
    em: StripeEmulator,
    url: str,
    events: object,  # as sent: a list of event types, checked by _events
    api_version: str | None,
    secret: str | None = None,
    description: str | None = None,
    metadata: Any = None,
) -> Obj:
    endpoint = shapes.new(
        "webhook_endpoint",
        id=em.ids.new("we"),
        api_version=api_version,
        created=em.clock.now(),
        description=description,
        enabled_events=_events(events),
        metadata=merge_metadata({}, metadata or {}),
        url=_url(url),
    )
    em.store.put(endpoint)
    secret = secret or em.ids.secret("whsec", 32)
    em.store.notes[endpoint["id"]]["secret"] = secret
    return {**endpoint, "secret": secret}


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params, {"url", "enabled_events", "api_version", "description", "metadata", "connect"}
    )
    if not params.get("url"):
        raise missing_param("url")
    return create_endpoint(
        em,
        params["url"],
        params.get("enabled_events"),
        params.get("api_version"),
        description=params.get("description"),
        metadata=params.get("metadata"),
    )


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("webhook_endpoint", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"url", "enabled_events", "description", "metadata", "disabled"})
    endpoint = em.store.require("webhook_endpoint", id)
    if "url" in params:
        endpoint["url"] = _url(params["url"])
    if "enabled_events" in params:
        endpoint["enabled_events"] = _events(params["enabled_events"])
    if "description" in params:
        endpoint["description"] = params["description"] or None
    if "metadata" in params:
        endpoint["metadata"] = merge_metadata(endpoint["metadata"], params["metadata"])
    if "disabled" in params:
        endpoint["status"] = "disabled" if as_bool(params["disabled"], "disabled") else "enabled"
    return endpoint


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    em.store.require("webhook_endpoint", id)
    em.store.replace("webhook_endpoint", shapes.deleted("webhook_endpoint", id))
    return shapes.deleted("webhook_endpoint", id)


def list_endpoints(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"limit", "starting_after", "ending_before"})
    return list_of(em.store.all("webhook_endpoint"), params, "/v1/webhook_endpoints")


def register(api: Api) -> None:
    api.route("POST", "/v1/webhook_endpoints", create)
    api.route("GET", "/v1/webhook_endpoints", list_endpoints)
    api.route("GET", "/v1/webhook_endpoints/<id>", retrieve)
    api.route("POST", "/v1/webhook_endpoints/<id>", update)
    api.route("DELETE", "/v1/webhook_endpoints/<id>", delete)
