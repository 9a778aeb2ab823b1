"""``/v1/setup_intents`` (read only): the SetupIntent behind a ``mode=setup`` Checkout Session.

Checkout creates it with the session (``setup_intent.created``) and, when the page saves a
card, sets its ``payment_method`` and ``customer`` and marks it ``succeeded``
(``setup_intent.succeeded``), so a bridge finds the saved card where Stripe puts it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import flow_shapes
from ..api import require_params
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]


def new_setup_intent(em: StripeEmulator, customer: str | None, metadata: dict[str, str]) -> Obj:
    seti_id = em.ids.new("seti")
    seti = flow_shapes.new(
        "setup_intent",
        id=seti_id,
        client_secret=em.ids.secret(f"{seti_id}_secret", 32),
        created=em.clock.now(),
        customer=customer,
        metadata=dict(metadata),
    )
    em.store.put(seti)
    em.bus.emit("setup_intent.created", seti)
    return seti


def succeed(em: StripeEmulator, seti: Obj, customer: str, payment_method: str) -> None:
    seti["customer"] = customer
    seti["payment_method"] = payment_method
    seti["status"] = "succeeded"
    em.bus.emit("setup_intent.succeeded", seti)


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("setup_intent", id)


def list_setup_intents(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {"customer", "payment_method", "limit", "starting_after", "ending_before", "created"},
    )

    def keep(seti: Obj) -> bool:
        return all(
            not params.get(name) or seti[name] == params[name]
            for name in ("customer", "payment_method")
        )

    return list_of(em.store.all("setup_intent"), params, "/v1/setup_intents", keep)


def register(api: Api) -> None:
    api.route("GET", "/v1/setup_intents", list_setup_intents)
    api.route("GET", "/v1/setup_intents/<id>", retrieve)
