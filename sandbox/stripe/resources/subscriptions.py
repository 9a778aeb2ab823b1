"""``/v1/subscriptions`` and ``/v1/subscription_items``.

Creation validates everything before it changes anything, so an ``error_if_incomplete``
decline (402) leaves no subscription, invoice, event or customer change behind.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..billing import card_error
from ..charging import card_of
from ..errors import invalid, missing_param
from ..forms import as_bool, as_dict, as_int, as_list, merge_metadata
from ..periods import DAY, boundary
from .common import list_of, parse_search, search_matches, search_result
from .payment_methods import attached_to
from .prices import new_price

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_CREATE = {
    "customer",
    "items",
    "payment_behavior",
    "default_payment_method",
    "metadata",
    "cancel_at_period_end",
    "cancel_at",
    "description",
    "collection_method",
    "off_session",
    "proration_behavior",
    "payment_settings",
    "trial_period_days",
    "trial_end",
    "trial_settings",
}
_UPDATE = {
    "trial_end",
    "trial_settings",
    "pause_collection",
    "metadata",
    "cancel_at_period_end",
    "cancel_at",
    "default_payment_method",
    "description",
    "items",
    "proration_behavior",
    "payment_behavior",
    "off_session",
    "cancellation_details",
}
BEHAVIORS = ("allow_incomplete", "default_incomplete", "error_if_incomplete")


def _plan_of(price: Obj) -> Obj:
    recurring = price["recurring"]
    return shapes.new(
        "plan",
        id=price["id"],
        active=price["active"],
        amount=price["unit_amount"],
        amount_decimal=price["unit_amount_decimal"],
        created=price["created"],
        currency=price["currency"],
        interval=recurring["interval"],
        interval_count=recurring["interval_count"],
        metadata=dict(price["metadata"]),
        nickname=price["nickname"],
        product=price["product"],
    )


def _price_for_item(em: StripeEmulator, item: Obj, index: int, store: bool) -> Obj:
    param = f"items[{index}]"
    if "price" in item:
        price = em.store.require("price", item["price"], f"{param}[price]")
        if not price["active"]:
            raise invalid(
                "The price specified is inactive. This subscription cannot be created with "
                "inactive prices.",
                param=f"{param}[price]",
            )
    elif "price_data" in item:
        data = as_dict(item["price_data"], f"{param}[price_data]")
        product = em.store.require("product", data.get("product"), f"{param}[price_data][product]")
        price = new_price(em, data, product["id"], f"{param}[price_data][")
        if store:
            em.store.put(price)
    else:
        raise missing_param(f"{param}[price]")
    if price["type"] != "recurring":
        raise invalid(
            "The price specified is set to `type=one_time` but this field only accepts prices "
            "with `type=recurring`.",
            param=f"{param}[price]",
        )
    return price


def _check_prices(prices: list[Obj]) -> None:
    first = prices[0]
    for price in prices[1:]:
        if price["currency"] != first["currency"]:
            raise invalid(
                "All prices on a subscription must have the same currency.", param="items"
            )
        a, b = price["recurring"], first["recurring"]
        if (a["interval"], a["interval_count"]) != (b["interval"], b["interval_count"]):
            raise invalid(
                "The emulator needs every price of a subscription on the same billing interval.",
                param="items",
            )


def _new_item(em: StripeEmulator, sub_id: str, price: Obj, spec: Obj, index: int) -> Obj:
    quantity = as_int(spec.get("quantity", 1), f"items[{index}][quantity]", minimum=0)
    item = shapes.new(
        "subscription_item",
        id=em.ids.new("si"),
        created=em.clock.now(),
        metadata=merge_metadata({}, spec.get("metadata", {})),
        price=price,
        plan=_plan_of(price),
        quantity=quantity,
        subscription=sub_id,
    )
    em.store.put(item)
    return item


def _trial_end(em: StripeEmulator, params: Obj, prices: list[Obj]) -> int | None:
    now = em.clock.now()
    if "trial_end" in params:
        if params["trial_end"] == "now":
            return None
        end = as_int(params["trial_end"], "trial_end")
        if end <= now:
            raise invalid(
                "Invalid timestamp: must be an integer Unix timestamp in the future.",
                param="trial_end",
            )
        return end
    if "trial_period_days" in params:
        days = as_int(params["trial_period_days"], "trial_period_days", minimum=0)
        return now + days * DAY if days else None
    return None


def _trial_settings(params: Obj) -> Obj | None:
    if "trial_settings" not in params:
        return None
    settings = as_dict(params["trial_settings"], "trial_settings")
    end = as_dict(settings.get("end_behavior"), "trial_settings[end_behavior]")
    behavior = end.get("missing_payment_method")
    if behavior not in ("create_invoice", "pause", "cancel"):
        raise invalid(
            f"Invalid trial_settings[end_behavior][missing_payment_method]: {behavior}",
            param="trial_settings[end_behavior][missing_payment_method]",
        )
    return {"end_behavior": {"missing_payment_method": behavior}}


PAUSE_BEHAVIORS = ("keep_as_draft", "mark_uncollectible", "void")


def _pause_collection(value: Any) -> Obj | None:
    if value == "":
        return None
    data = as_dict(value, "pause_collection")
    behavior = data.get("behavior")
    if behavior not in PAUSE_BEHAVIORS:
        raise invalid(
            "Invalid pause_collection[behavior]: must be one of keep_as_draft, "
            "mark_uncollectible, or void",
            param="pause_collection[behavior]",
        )
    resumes_at = data.get("resumes_at")
    return {
        "behavior": behavior,
        "resumes_at": as_int(resumes_at, "pause_collection[resumes_at]") if resumes_at else None,
    }


def _precheck_payment(
    em: StripeEmulator, customer: Obj, pm: Obj | None, behavior: str, charge_now: bool
) -> None:
    """Refuse before anything exists: no way to pay, or a decline under error_if_incomplete."""
    if not charge_now or behavior == "default_incomplete":
        return
    if pm is None:
        for default_id in (
            customer["invoice_settings"]["default_payment_method"],
            customer["default_source"],
        ):
            default = em.store.get(default_id) if default_id else None
            if default is not None and default["customer"] == customer["id"]:
                pm = default
                break
    if pm is None:
        raise invalid(
            "This customer has no attached payment source or default payment method. Please "
            "consider adding a default payment method.",
            code="resource_missing",
        )
    decline = card_of(em, pm).charge_decline
    if behavior == "error_if_incomplete" and decline is not None:
        # Stripe rolls the whole request back: no subscription, invoice or event remains.
        raise card_error(em, decline, None)


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if not params.get("customer"):
        raise missing_param("customer")
    customer = em.store.require("customer", params["customer"], "customer")
    behavior = params.get("payment_behavior", "allow_incomplete")
    if behavior not in BEHAVIORS:
        raise invalid(f"Invalid payment_behavior: {behavior}", param="payment_behavior")
    if params.get("collection_method", "charge_automatically") != "charge_automatically":
        raise invalid(
            "The emulator supports collection_method=charge_automatically only.",
            param="collection_method",
        )
    specs = [as_dict(s, f"items[{i}]") for i, s in enumerate(as_list(params.get("items"), "items"))]
    if not specs:
        raise missing_param("items")
    if len(specs) > 20:
        raise invalid("A subscription can have at most 20 items.", param="items")
    prices = [_price_for_item(em, spec, i, store=False) for i, spec in enumerate(specs)]
    _check_prices(prices)
    pm = None
    if params.get("default_payment_method"):
        pm = attached_to(
            em, params["default_payment_method"], customer["id"], "default_payment_method"
        )
    trial_end = _trial_end(em, params, prices)
    trial_settings = _trial_settings(params)
    amount = sum(
        int(p["unit_amount"] or 0) * as_int(s.get("quantity", 1), "quantity")
        for p, s in zip(prices, specs, strict=True)
    )
    _precheck_payment(em, customer, pm, behavior, amount > 0 and trial_end is None)

    # Everything is valid: from here on objects are created.
    sub_id = em.ids.new("sub")
    items = []
    for i, (price, spec) in enumerate(zip(prices, specs, strict=True)):
        if em.store.get(price["id"]) is None:
            em.store.put(price)
        items.append(_new_item(em, sub_id, price, spec, i))
    now = em.clock.now()
    cancel_at = as_int(params["cancel_at"], "cancel_at") if params.get("cancel_at") else None
    sub = shapes.new(
        "subscription",
        id=sub_id,
        billing_cycle_anchor=trial_end or now,
        cancel_at=cancel_at,
        created=now,
        currency=prices[0]["currency"],
        customer=customer["id"],
        default_payment_method=pm["id"] if pm else None,
        description=params.get("description"),
        items=shapes.list_object(items, f"/v1/subscription_items?subscription={sub_id}"),
        metadata=merge_metadata({}, params.get("metadata", {})),
        start_date=now,
        status="incomplete",
        trial_start=now if trial_end else None,
        trial_end=trial_end,
        cancel_at_period_end=as_bool(
            params.get("cancel_at_period_end", False), "cancel_at_period_end"
        ),
    )
    if trial_settings is not None:
        sub["trial_settings"] = trial_settings
    sub["test_clock"] = customer["test_clock"]
    if sub["cancel_at_period_end"]:
        recurring = prices[0]["recurring"]
        first_end = boundary(now, recurring["interval"], recurring["interval_count"], 1)
        sub["cancel_at"] = trial_end or first_end
    em.store.put(sub)
    em.billing.start(sub, behavior, trial_end)
    return sub


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("subscription", id)


def _swap_items(em: StripeEmulator, sub: Obj, specs: list[Obj]) -> None:
    """Item changes take effect from the next renewal (no proration in the emulator)."""
    items = sub["items"]["data"]
    for i, spec in enumerate(specs):
        if spec.get("id"):
            item = next((it for it in items if it["id"] == spec["id"]), None)
            if item is None:
                raise invalid(f"No such subscription item: '{spec['id']}'", param=f"items[{i}][id]")
            if as_bool(spec.get("deleted", False), f"items[{i}][deleted]"):
                items.remove(item)
                continue
            if "price" in spec or "price_data" in spec:
                price = _price_for_item(em, spec, i, store=True)
                item["price"], item["plan"] = price, _plan_of(price)
            if "quantity" in spec:
                item["quantity"] = as_int(spec["quantity"], f"items[{i}][quantity]", minimum=0)
            if "metadata" in spec:
                item["metadata"] = merge_metadata(item["metadata"], spec["metadata"])
        else:
            price = _price_for_item(em, spec, i, store=True)
            item = _new_item(em, sub["id"], price, spec, i)
            start, end = em.billing.current_period(sub)
            item["current_period_start"], item["current_period_end"] = start, end
            items.append(item)
    if not items:
        raise invalid("A subscription needs at least one item.", param="items")
    _check_prices([it["price"] for it in items])


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, _UPDATE)
    sub = em.store.require("subscription", id)
    if sub["status"] in ("canceled", "incomplete_expired") and (
        set(params) - {"metadata", "cancellation_details", "expand"}
    ):
        raise invalid(
            "A canceled subscription can only update its cancellation_details and metadata."
        )
    with em.bus.updating(sub, "customer.subscription.updated"):
        if "metadata" in params:
            sub["metadata"] = merge_metadata(sub["metadata"], params["metadata"])
        if "description" in params:
            sub["description"] = params["description"] or None
        if "default_payment_method" in params:
            pm_id = params["default_payment_method"]
            sub["default_payment_method"] = (
                attached_to(em, pm_id, sub["customer"], "default_payment_method")["id"]
                if pm_id
                else None
            )
        if "cancel_at_period_end" in params:
            flag = as_bool(params["cancel_at_period_end"], "cancel_at_period_end")
            sub["cancel_at_period_end"] = flag
            sub["cancel_at"] = em.billing.current_period(sub)[1] if flag else None
            sub["canceled_at"] = em.clock.now() if flag else None
        if params.get("cancel_at") is not None:
            sub["cancel_at"] = (
                as_int(params["cancel_at"], "cancel_at") if params["cancel_at"] else None
            )
        if "cancellation_details" in params:
            details = as_dict(params["cancellation_details"], "cancellation_details")
            for name in ("comment", "feedback"):
                if name in details:
                    sub["cancellation_details"][name] = details[name] or None
        if "items" in params:
            specs = [
                as_dict(s, f"items[{i}]") for i, s in enumerate(as_list(params["items"], "items"))
            ]
            _swap_items(em, sub, specs)
        settings = _trial_settings(params)
        if settings is not None:
            sub["trial_settings"] = settings
        if "pause_collection" in params:
            if sub["status"] == "paused":
                raise invalid(
                    "A paused subscription cannot pause collection; resume it first.",
                    param="pause_collection",
                )
            sub["pause_collection"] = _pause_collection(params["pause_collection"])
    if "trial_end" in params:
        _change_trial_end(em, sub, params["trial_end"])
    return sub


def _change_trial_end(em: StripeEmulator, sub: Obj, value: Any) -> None:
    if sub["status"] != "trialing":
        raise invalid("Only a trialing subscription can change its trial_end.", param="trial_end")
    if value == "now":
        em.billing.end_trial_now(sub)
        return
    end = as_int(value, "trial_end")
    if end <= em.clock.now():
        raise invalid(
            "Invalid timestamp: must be an integer Unix timestamp in the future.",
            param="trial_end",
        )
    with em.bus.updating(sub, "customer.subscription.updated"):
        sub["trial_end"] = end
        sub["billing_cycle_anchor"] = end
        start, _ = em.billing.current_period(sub)
        em.billing._set_period(sub, start, end)
        em.store.notes[sub["id"]]["trial_warned"] = False


def resume(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"billing_cycle_anchor", "proration_behavior", "proration_date"})
    sub = em.store.require("subscription", id)
    if sub["status"] != "paused":
        raise invalid(
            f"Only a paused subscription can be resumed; this one is {sub['status']}.",
        )
    if params.get("billing_cycle_anchor", "now") not in ("now", "unchanged"):
        raise invalid(
            "Invalid billing_cycle_anchor: now or unchanged", param="billing_cycle_anchor"
        )
    em.billing.resume(sub)
    return sub


def cancel(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, {"invoice_now", "prorate", "cancellation_details"})
    sub = em.store.require("subscription", id)
    if sub["status"] in ("canceled", "incomplete_expired"):
        raise invalid("This subscription has already been canceled.", param=None)
    if sub["status"] == "incomplete":
        invoice = em.store.get(sub["latest_invoice"] or "")
        if invoice is not None and invoice["status"] == "open":
            em.billing.void(invoice)
    details = as_dict(params.get("cancellation_details"), "cancellation_details")
    for name in ("comment", "feedback"):
        if name in details:
            sub["cancellation_details"][name] = details[name] or None
    sub["canceled_at"] = em.clock.now()
    em.billing.cancel(sub, "cancellation_requested")
    return sub


def list_subscriptions(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "customer",
            "price",
            "status",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "collection_method",
        },
    )
    status = params.get("status")
    customer, price = params.get("customer"), params.get("price")

    def keep(sub: Obj) -> bool:
        if customer and sub["customer"] != customer:
            return False
        if price and all(it["price"]["id"] != price for it in sub["items"]["data"]):
            return False
        if status in (None, ""):
            return bool(sub["status"] not in ("canceled", "incomplete_expired"))
        if status == "all":
            return True
        if status == "ended":
            return bool(sub["status"] in ("canceled", "incomplete_expired"))
        return bool(sub["status"] == status)

    return list_of(em.store.all("subscription"), params, "/v1/subscriptions", keep)


def search(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"query", "limit", "page"})
    clauses = parse_search(params.get("query"), {"status", "customer"})
    found = [s for s in reversed(em.store.all("subscription")) if search_matches(s, clauses)]
    return search_result(found, params, "/v1/subscriptions/search")


def retrieve_item(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("subscription_item", id)


def list_items(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, {"subscription", "limit", "starting_after", "ending_before"})
    if not params.get("subscription"):
        raise missing_param("subscription")
    sub = em.store.require("subscription", params["subscription"], "subscription")
    items = list(reversed(sub["items"]["data"]))
    return list_of(items, params, f"/v1/subscription_items?subscription={sub['id']}")


def register(api: Api) -> None:
    api.route("POST", "/v1/subscriptions", create)
    api.route("GET", "/v1/subscriptions", list_subscriptions)
    api.route("GET", "/v1/subscriptions/search", search)
    api.route("GET", "/v1/subscriptions/<id>", retrieve)
    api.route("POST", "/v1/subscriptions/<id>", update)
    api.route("DELETE", "/v1/subscriptions/<id>", cancel)
    api.route("POST", "/v1/subscriptions/<id>/resume", resume)
    api.route("GET", "/v1/subscription_items", list_items)
    api.route("GET", "/v1/subscription_items/<id>", retrieve_item)
