"""``/v1/events``: newest first, filtered by ``type`` (``invoice.*`` works) or ``types[]``."""

from __future__ import annotations

import fnmatch
from typing import TYPE_CHECKING, Any

from ..api import require_params
from ..forms import as_list
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("event", id)


def list_events(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "type",
            "types",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "delivery_success",
        },
    )
    pattern = params.get("type")
    types = set(as_list(params.get("types"), "types"))

    def keep(event: Obj) -> bool:
        if pattern and not fnmatch.fnmatchcase(event["type"], pattern):
            return False
        return not types or event["type"] in types

    return list_of(em.store.all("event"), params, "/v1/events", keep)


def register(api: Api) -> None:
    api.route("GET", "/v1/events", list_events)
    api.route("GET", "/v1/events/<id>", retrieve)
