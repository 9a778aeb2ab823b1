"""``/v1/test_helpers/test_clocks``: Stripe's test clocks.

A clock has its own ``frozen_time``. Customers created with ``test_clock`` live on it: every
request about them (or their subscriptions, invoices, schedules, …) runs at the clock's
time, and ``POST …/advance`` moves only that clock, running the renewals, retries, trial
ends and schedule phases of its customers' objects on the way (the emulator's own clock and
other clocks stay put). Events: ``test_helpers.test_clock.created``, ``.advancing``,
``.ready``, ``.deleted``.

The emulator advances within the request and answers the clock ``ready`` (Stripe answers
``advancing`` and finishes in the background); clients that poll until ``ready`` work
unchanged. Stripe's limit on how far one advance may go is enforced: two intervals of the
shortest subscription on the clock, and never more than MAX_ADVANCE (the emulator runs
each renewal on the way inside the request: an advance of 2**40 seconds never ended).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import more_shapes, shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_int
from ..periods import DAY, boundary
from .common import list_of

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

LIFETIME = 30 * DAY  # Stripe deletes a test clock 30 days after its creation
# The emulator's own bound on one advance, with or without subscriptions (also for the
# private /_emulator/advance): three years, Stripe's longest subscription interval.
MAX_ADVANCE = 3 * 366 * DAY


def advance_limit(em: StripeEmulator, clock: Obj) -> int:
    """The latest frozen_time one advance may reach: two intervals of the shortest
    subscription on the clock (Stripe's docs, "Advance the clock"), at most MAX_ADVANCE."""
    now = int(clock["frozen_time"])
    limit = now + MAX_ADVANCE
    for sub in em.store.all("subscription"):
        if sub.get("test_clock") != clock["id"] or sub.get("status") == "canceled":
            continue
        for item in (sub.get("items") or {}).get("data") or []:
            recurring = (item.get("price") or {}).get("recurring") or {}
            if recurring.get("interval"):
                two = boundary(
                    now, recurring["interval"], int(recurring.get("interval_count") or 1), 2
                )
                limit = min(limit, two)
    return limit


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"frozen_time", "name"})
    if "frozen_time" not in params:
        raise missing_param("frozen_time")
    created = em.clock.global_now()
    clock = more_shapes.new(
        "test_helpers.test_clock",
        id=em.ids.new("clock"),
        created=created,
        deletes_after=created + LIFETIME,
        frozen_time=as_int(params["frozen_time"], "frozen_time"),
        name=params.get("name") or None,
    )
    em.store.put(clock)
    em.bus.emit("test_helpers.test_clock.created", clock)
    return clock


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("test_helpers.test_clock", id)


def list_clocks(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"limit", "starting_after", "ending_before"})
    return list_of(em.store.all("test_helpers.test_clock"), params, "/v1/test_helpers/test_clocks")


def advance(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"frozen_time"})
    clock = em.store.require("test_helpers.test_clock", id)
    if "frozen_time" not in params:
        raise missing_param("frozen_time")
    target = as_int(params["frozen_time"], "frozen_time")
    if target <= clock["frozen_time"]:
        raise invalid(
            "The frozen_time must be after the test clock's current frozen_time "
            f"({clock['frozen_time']}).",
            param="frozen_time",
        )
    limit = advance_limit(em, clock)
    if target > limit:
        raise invalid(
            "Cannot advance the test clock more than two intervals of its shortest "
            f"subscription, nor more than {MAX_ADVANCE // DAY} days: the latest frozen_time "
            f"allowed is {limit}.",
            param="frozen_time",
        )
    clock["status"] = "advancing"
    clock["status_details"] = {"advancing": {"target_frozen_time": target}}
    em.bus.emit("test_helpers.test_clock.advancing", clock)
    em.billing.advance_test_clock(clock, target)
    clock["status"] = "ready"
    clock["status_details"] = {}
    em.bus.emit("test_helpers.test_clock.ready", clock)
    return clock


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    """Delete the clock and, as Stripe does, the customers on it (their subscriptions end)."""
    from .customers import delete as delete_customer

    clock = em.store.require("test_helpers.test_clock", id)
    with em.clock.frozen(clock["frozen_time"]):
        for customer in em.store.all("customer"):
            if not customer.get("deleted") and customer.get("test_clock") == id:
                delete_customer(em, {}, customer["id"])
    em.store.replace("test_helpers.test_clock", shapes.deleted("test_helpers.test_clock", id))
    em.bus.emit("test_helpers.test_clock.deleted", clock)
    return shapes.deleted("test_helpers.test_clock", id)


def register(api: Api) -> None:
    api.route("POST", "/v1/test_helpers/test_clocks", create)
    api.route("GET", "/v1/test_helpers/test_clocks", list_clocks)
    api.route("GET", "/v1/test_helpers/test_clocks/<id>", retrieve)
    api.route("DELETE", "/v1/test_helpers/test_clocks/<id>", delete)
    api.route("POST", "/v1/test_helpers/test_clocks/<id>/advance", advance)
