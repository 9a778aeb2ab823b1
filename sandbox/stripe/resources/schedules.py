"""``/v1/subscription_schedules``: phases of prices over time (intro prices, pay plans).

A phase lasts until its ``end_date`` or for its ``duration``; a last phase with neither
lasts one interval of its first price. ``iterations`` was removed from the API in
2025-09-30.clover: a request made with an older version (its ``Stripe-Version``, or the
account's default) may still send it and gets a ``duration`` of that many intervals of the
phase's first price; newer versions refuse it like any unknown parameter. The time-driven
part lives in
:mod:`sandbox.stripe.schedule_engine`.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..flow_shapes import SCHEDULE_PHASE, SCHEDULE_PHASE_ITEM
from ..forms import as_dict, as_int, as_list, merge_metadata
from ..periods import MAX_INTERVAL_COUNT, boundary
from ..schedule_engine import ScheduleEngine, install
from .common import list_of
from .payment_methods import attached_to
from .prices import new_price
from .subscriptions import _new_item

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_CREATE = {
    "customer",
    "phases",
    "end_behavior",
    "start_date",
    "metadata",
    "default_settings",
    "from_subscription",
    "billing_mode",
    "customer_account",
}
_UPDATE = {"phases", "end_behavior", "metadata", "default_settings", "proration_behavior"}
_PHASE = {
    "items",
    "end_date",
    "duration",
    "metadata",
    "default_payment_method",
    "proration_behavior",
    "currency",
    "description",
    "start_date",
}
_ITEM = {"price", "price_data", "quantity", "metadata"}
END_BEHAVIORS = ("release", "cancel")


def engine(em: StripeEmulator) -> ScheduleEngine:
    return install(em)


# -- parsing ---------------------------------------------------------------------------------


def _reject_unknown(spec: Obj, allowed: set[str], prefix: str) -> None:
    for name in spec:
        if name not in allowed:
            param = f"{prefix}[{name}]"
            raise invalid(
                f"Received unknown parameter: {param}", param=param, code="parameter_unknown"
            )


def _phase_price(em: StripeEmulator, spec: Obj, param: str) -> Obj:
    if spec.get("price"):
        price = em.store.require("price", spec["price"], f"{param}[price]")
    elif "price_data" in spec:
        data = as_dict(spec["price_data"], f"{param}[price_data]")
        product = em.store.require("product", data.get("product"), f"{param}[price_data][product]")
        if not data.get("recurring"):
            raise missing_param(f"{param}[price_data][recurring]")
        price = new_price(em, data, product["id"], f"{param}[price_data][")
        em.store.put(price)  # inline prices exist (inactive-free) like any other
    else:
        raise missing_param(f"{param}[price]")
    if price["type"] != "recurring":
        raise invalid("Schedule phases need recurring prices.", param=f"{param}[price]")
    return price


def _phase_items(em: StripeEmulator, phase: Obj, param: str) -> list[tuple[Obj, int, Obj]]:
    specs = [
        as_dict(s, f"{param}[items][{i}]")
        for i, s in enumerate(as_list(phase.get("items"), f"{param}[items]"))
    ]
    if not specs:
        raise missing_param(f"{param}[items]")
    out = []
    for i, spec in enumerate(specs):
        item_param = f"{param}[items][{i}]"
        _reject_unknown(spec, _ITEM, item_param)
        price = _phase_price(em, spec, item_param)
        quantity = as_int(spec.get("quantity", 1), f"{item_param}[quantity]", minimum=0)
        out.append((price, quantity, merge_metadata({}, spec.get("metadata", {}))))
    currencies = {p["currency"] for p, _, _ in out}
    if len(currencies) > 1:
        raise invalid("All prices in a phase must have the same currency.", param=f"{param}[items]")
    return out


def _months(interval: str, count: int) -> int | None:
    """A month-based length in months (None for days and weeks)."""
    return {"month": count, "year": 12 * count}.get(interval)


def _after(start: int, interval: str, count: int, anchor: int, months_done: int | None) -> int:
    """``count`` intervals after ``start``. Months count from the schedule's first start, as
    the subscription's billing periods do (anchored on the 30th: Feb 28, then Mar 30), so
    a phase ends exactly on a period end."""
    months = _months(interval, count)
    if months is not None and months_done is not None:
        return boundary(anchor, "month", 1, months_done + months)
    return boundary(start, interval, count, 1)


def _phase_end(
    phase: Obj,
    start: int,
    first_price: Obj,
    param: str,
    last: bool,
    anchor: int,
    months_done: int | None,
) -> tuple[int, int | None]:
    """(end, months the phase lasts or None when it is not a whole number of months)."""
    if "end_date" in phase and "duration" in phase:
        raise invalid(
            "You may only specify one of these parameters: duration, end_date.", param=param
        )
    if "end_date" in phase:
        end = as_int(phase["end_date"], f"{param}[end_date]")
        if end <= start:
            raise invalid(
                "The phase end_date must be after its start date.", param=f"{param}[end_date]"
            )
        return end, None
    if "duration" in phase:
        duration = as_dict(phase["duration"], f"{param}[duration]")
        interval = duration.get("interval")
        if interval not in MAX_INTERVAL_COUNT:
            raise invalid(
                "Invalid duration interval: must be one of day, week, month, or year",
                param=f"{param}[duration][interval]",
            )
        count = as_int(
            duration.get("interval_count", 1), f"{param}[duration][interval_count]", minimum=1
        )
        return _after(start, interval, count, anchor, months_done), _months(interval, count)
    if not last:
        raise invalid(
            "Every phase but the last needs an end_date or a duration.", param=f"{param}[end_date]"
        )
    recurring = first_price["recurring"]
    interval, count = recurring["interval"], int(recurring["interval_count"])
    return _after(start, interval, count, anchor, months_done), _months(interval, count)


ITERATIONS_REMOVED = "2025-09-30"


def _iterations_as_duration(em: StripeEmulator, spec: Obj, param: str) -> Obj:
    """Pre-clover ``iterations``: that many billing intervals of the first item's price."""
    spec = dict(spec)
    iterations = as_int(spec.pop("iterations"), f"{param}[iterations]", minimum=1)
    items = _phase_items(em, spec, param)
    recurring = items[0][0]["recurring"]
    spec["duration"] = {
        "interval": recurring["interval"],
        "interval_count": int(recurring["interval_count"]) * iterations,
    }
    return spec


def build_phases(em: StripeEmulator, specs: list[Any], start: int, customer: str) -> list[Obj]:
    """API phases from params; each starts where the previous one ends."""
    phases = []
    anchor = start
    months_done: int | None = 0  # months since the first phase began (None: not whole)
    for i, raw in enumerate(specs):
        param = f"phases[{i}]"
        spec = as_dict(raw, param)
        if "iterations" in spec and em.request_version < ITERATIONS_REMOVED:
            spec = _iterations_as_duration(em, spec, param)
        _reject_unknown(spec, _PHASE, param)
        if i == 0 and spec.get("start_date") not in (None, "", "now"):
            start = anchor = as_int(spec["start_date"], f"{param}[start_date]")
        items = _phase_items(em, spec, param)
        end, months = _phase_end(
            spec, start, items[0][0], param, i == len(specs) - 1, anchor, months_done
        )
        months_done = None if months is None or months_done is None else months_done + months
        phase = copy.deepcopy(SCHEDULE_PHASE)
        pm = None
        if spec.get("default_payment_method"):
            pm = attached_to(
                em, spec["default_payment_method"], customer, f"{param}[default_payment_method]"
            )["id"]
        phase.update(
            currency=items[0][0]["currency"],
            default_payment_method=pm,
            description=spec.get("description") or None,
            end_date=end,
            items=[_phase_item(price, qty, meta) for price, qty, meta in items],
            metadata=merge_metadata({}, spec.get("metadata", {})),
            proration_behavior=spec.get("proration_behavior", "create_prorations"),
            start_date=start,
        )
        phases.append(phase)
        start = end
    return phases


def _phase_item(price: Obj, quantity: int, metadata: dict[str, str]) -> Obj:
    item = copy.deepcopy(SCHEDULE_PHASE_ITEM)
    item.update(price=price["id"], plan=price["id"], quantity=quantity, metadata=metadata)
    return item


def _default_settings(em: StripeEmulator, sched: Obj, value: Any) -> None:
    settings = as_dict(value, "default_settings")
    _reject_unknown(
        settings, {"default_payment_method", "description", "collection_method"}, "default_settings"
    )
    if settings.get("collection_method", "charge_automatically") != "charge_automatically":
        raise invalid(
            "The emulator supports collection_method=charge_automatically only.",
            param="default_settings[collection_method]",
        )
    if "default_payment_method" in settings:
        pm_id = settings["default_payment_method"]
        sched["default_settings"]["default_payment_method"] = (
            attached_to(em, pm_id, sched["customer"], "default_settings[default_payment_method]")[
                "id"
            ]
            if pm_id
            else None
        )
    if "description" in settings:
        sched["default_settings"]["description"] = settings["description"] or None


# -- the subscription a schedule runs ---------------------------------------------------------


def start_subscription(em: StripeEmulator, sched: Obj, phase: Obj) -> Obj:
    """The schedule's subscription, billed at once for the first phase."""
    customer = em.store.require("customer", sched["customer"])
    now = em.clock.now()
    sub_id = em.ids.new("sub")
    items = []
    for i, spec in enumerate(phase["items"]):
        price = em.store.require("price", spec["price"])
        item = _new_item(em, sub_id, price, {"metadata": spec["metadata"]}, i)
        item["quantity"] = spec["quantity"]
        items.append(item)
    sub = shapes.new(
        "subscription",
        id=sub_id,
        billing_cycle_anchor=now,
        created=now,
        currency=phase["currency"],
        customer=customer["id"],
        default_payment_method=phase["default_payment_method"]
        or sched["default_settings"]["default_payment_method"],
        description=phase["description"] or sched["default_settings"]["description"],
        items=shapes.list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        metadata=dict(phase["metadata"]),
        schedule=sched["id"],
        start_date=now,
        status="incomplete",
        test_clock=customer["test_clock"],
    )
    em.store.put(sub)
    em.billing.start(sub, "schedule", None)
    return sub


def _from_subscription(em: StripeEmulator, sub_id: Any) -> Obj:
    sub = em.store.require("subscription", sub_id, "from_subscription")
    if sub["schedule"]:
        raise invalid(
            "This subscription is already managed by a subscription schedule.",
            param="from_subscription",
        )
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid(
            "You cannot create a schedule from a canceled subscription.", param="from_subscription"
        )
    start, end = em.billing.current_period(sub)
    phase = copy.deepcopy(SCHEDULE_PHASE)
    phase.update(
        currency=sub["currency"],
        default_payment_method=sub["default_payment_method"],
        end_date=end,
        items=[
            _phase_item(item["price"], item["quantity"], dict(item["metadata"]))
            for item in sub["items"]["data"]
        ],
        metadata=dict(sub["metadata"]),
        proration_behavior="create_prorations",
        start_date=start,
    )
    sched = shapes.new(
        "subscription_schedule",
        id=em.ids.new("sub_sched"),
        created=em.clock.now(),
        current_phase={"end_date": end, "start_date": start},
        customer=sub["customer"],
        phases=[phase],
        status="active",
        subscription=sub["id"],
    )
    em.store.put(sched)
    engine(em).watch(sched)
    with em.bus.updating(sub, "customer.subscription.updated"):
        sub["schedule"] = sched["id"]
    em.bus.emit("subscription_schedule.created", sched)
    return sched


# -- routes ------------------------------------------------------------------------------------


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if params.get("from_subscription"):
        others = set(params) - {"from_subscription", "expand"}
        if others:
            name = sorted(others)[0]
            raise invalid(f"You cannot set '{name}' if 'from_subscription' is set.", param=name)
        return _from_subscription(em, params["from_subscription"])
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    now = em.clock.now()
    start_param = params.get("start_date", "now")
    start = now if start_param == "now" else as_int(start_param, "start_date")
    if start < now:
        raise invalid(
            "The emulator cannot backdate a schedule: start_date must be now or later.",
            param="start_date",
        )
    end_behavior = params.get("end_behavior", "release")
    if end_behavior not in END_BEHAVIORS:
        raise invalid(
            "Invalid end_behavior: must be one of release or cancel", param="end_behavior"
        )
    specs = as_list(params.get("phases"), "phases")
    if not specs:
        raise missing_param("phases")
    sched = shapes.new(
        "subscription_schedule",
        id=em.ids.new("sub_sched"),
        created=now,
        customer=customer["id"],
        end_behavior=end_behavior,
        metadata=merge_metadata({}, params.get("metadata", {})),
    )
    if "default_settings" in params:
        _default_settings(em, sched, params["default_settings"])
    sched["phases"] = build_phases(em, specs, start, customer["id"])
    em.store.put(sched)
    engine(em).watch(sched)
    created_at = em.bus.mark()
    if start <= now:
        engine(em).start(sched, announce=False)
    em.bus.emit("subscription_schedule.created", sched, position=created_at)
    return sched


def _current(em: StripeEmulator, sched_id: str) -> Obj:
    """The schedule, caught up with its subscription (canceled elsewhere → canceled)."""
    sched = em.store.require("subscription_schedule", sched_id)
    if sched["status"] == "active":
        engine(em).step(sched, em.clock.now())
    return sched


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return _current(em, id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, _UPDATE)
    sched = _current(em, id)
    if sched["status"] not in ("not_started", "active"):
        raise invalid(f"You cannot update a subscription schedule that is {sched['status']}.")
    eng = engine(em)
    with em.bus.updating(sched, "subscription_schedule.updated"):
        if "metadata" in params:
            sched["metadata"] = merge_metadata(sched["metadata"], params["metadata"])
        if "end_behavior" in params:
            if params["end_behavior"] not in END_BEHAVIORS:
                raise invalid(
                    "Invalid end_behavior: must be one of release or cancel", param="end_behavior"
                )
            sched["end_behavior"] = params["end_behavior"]
        if "default_settings" in params:
            _default_settings(em, sched, params["default_settings"])
        if "phases" in params:
            _replace_phases(em, eng, sched, as_list(params["phases"], "phases"))
    return sched


def _replace_phases(em: StripeEmulator, eng: ScheduleEngine, sched: Obj, specs: list[Any]) -> None:
    if not specs:
        raise missing_param("phases")
    now = em.clock.now()
    first_start = sched["phases"][0]["start_date"] if sched["phases"] else now
    phases = build_phases(em, specs, first_start, sched["customer"])
    if sched["status"] == "not_started":
        sched["phases"] = phases
        return
    # An active schedule keeps its current phase's start; the phase holding "now" applies.
    current = next((p for p in phases if p["start_date"] <= now < p["end_date"]), None)
    if current is None:
        raise invalid(
            "The phases must cover the current time of an active schedule.", param="phases"
        )
    sched["phases"] = phases
    sched["current_phase"] = {"end_date": current["end_date"], "start_date": current["start_date"]}
    sub = eng.subscription_of(sched)
    if sub is not None:
        live = [(it["price"]["id"], it["quantity"]) for it in sub["items"]["data"]]
        wanted = [(it["price"], it["quantity"]) for it in current["items"]]
        if live != wanted:
            eng.apply_phase(sub, current)


def release(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"preserve_cancel_date"})
    sched = _current(em, id)
    engine(em).release(sched)
    return sched


def cancel(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"invoice_now", "prorate"})
    sched = _current(em, id)
    engine(em).cancel(sched)
    return sched


def list_schedules(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "customer",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "scheduled",
            "completed_at",
            "canceled_at",
            "released_at",
        },
    )
    customer = params.get("customer")
    return list_of(
        em.store.all("subscription_schedule"),
        params,
        "/v1/subscription_schedules",
        lambda s: not customer or s["customer"] == customer,
    )


def register(api: Api) -> None:
    install(api.em)
    api.route("POST", "/v1/subscription_schedules", create)
    api.route("GET", "/v1/subscription_schedules", list_schedules)
    api.route("GET", "/v1/subscription_schedules/<id>", retrieve)
    api.route("POST", "/v1/subscription_schedules/<id>", update)
    api.route("POST", "/v1/subscription_schedules/<id>/release", release)
    api.route("POST", "/v1/subscription_schedules/<id>/cancel", cancel)
