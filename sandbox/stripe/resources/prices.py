"""``/v1/prices``: per-unit prices, one-time or recurring, with lookup keys."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .. import shapes
from ..api import require_params
from ..errors import invalid, missing_param
from ..forms import as_bool, as_dict, as_int, as_list, merge_metadata
from ..periods import MAX_INTERVAL_COUNT
from .common import list_of
from .products import create as create_product

if TYPE_CHECKING:
    from ..api import Api
    from ..emulator import StripeEmulator

Obj = dict[str, Any]

_CREATE = {
    "currency",
    "product",
    "product_data",
    "unit_amount",
    "unit_amount_decimal",
    "recurring",
    "lookup_key",
    "transfer_lookup_key",
    "nickname",
    "metadata",
    "active",
    "billing_scheme",
    "tax_behavior",
}
_UPDATE = {"active", "lookup_key", "transfer_lookup_key", "metadata", "nickname", "tax_behavior"}


def recurring_from(value: Any, param: str = "recurring") -> Obj:
    """Validated ``recurring`` hash (also used for inline ``price_data``)."""
    data = as_dict(value, param)
    interval = data.get("interval")
    if interval is None:
        raise missing_param(f"{param}[interval]")
    if interval not in MAX_INTERVAL_COUNT:
        raise invalid(
            f"Invalid {param}[interval]: must be one of day, week, month, or year",
            param=f"{param}[interval]",
        )
    count = as_int(data.get("interval_count", 1), f"{param}[interval_count]", minimum=1)
    if count > MAX_INTERVAL_COUNT[interval]:
        raise invalid(
            "The maximum billing interval is 3 years (3 years, 36 months, or 156 weeks).",
            param=f"{param}[interval_count]",
        )
    usage = data.get("usage_type", "licensed")
    if usage != "licensed":
        raise invalid("The emulator supports licensed usage only.", param=f"{param}[usage_type]")
    trial_days = data.get("trial_period_days")
    return {
        "interval": interval,
        "interval_count": count,
        "meter": None,
        "usage_type": "licensed",
        "trial_period_days": as_int(trial_days, f"{param}[trial_period_days]")
        if trial_days
        else None,
    }


def new_price(em: StripeEmulator, params: Obj, product_id: str, param: str = "") -> Obj:
    """A price object from create-style params (``/v1/prices`` or inline ``price_data``)."""
    currency = params.get("currency")
    if not currency:
        raise missing_param(f"{param}currency")
    if params.get("billing_scheme", "per_unit") != "per_unit":
        raise invalid("The emulator supports per_unit prices only.", param=f"{param}billing_scheme")
    if "unit_amount" in params:
        amount = as_int(params["unit_amount"], f"{param}unit_amount", minimum=0)
    elif "unit_amount_decimal" in params:
        try:
            amount = int(str(params["unit_amount_decimal"]))
        except ValueError:
            raise invalid(
                "The emulator needs whole minor units.", param=f"{param}unit_amount_decimal"
            ) from None
    else:
        raise missing_param(f"{param}unit_amount")
    recurring = (
        recurring_from(params["recurring"], f"{param}recurring")
        if params.get("recurring")
        else None
    )
    return shapes.new(
        "price",
        id=em.ids.new("price"),
        created=em.clock.now(),
        currency=str(currency).lower(),
        product=product_id,
        recurring=recurring,
        type="recurring" if recurring else "one_time",
        unit_amount=amount,
        unit_amount_decimal=str(amount),
        tax_behavior=params.get("tax_behavior", "unspecified"),
    )


def _claim_lookup_key(em: StripeEmulator, price: Obj, key: Any, transfer: bool) -> None:
    if key in (None, ""):
        price["lookup_key"] = None
        return
    key = str(key)
    if len(key) > 200:
        raise invalid("lookup_key must be at most 200 characters.", param="lookup_key")
    for other in em.store.all("price"):
        if other["id"] != price["id"] and other["lookup_key"] == key:
            if not transfer:
                raise invalid(
                    f"A price (`{other['id']}`) already uses that lookup key.",
                    param="lookup_key",
                )
            with em.bus.updating(other, "price.updated"):
                other["lookup_key"] = None
    price["lookup_key"] = key


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, _CREATE)
    if "product" in params:
        product = em.store.require("product", params["product"], "product")
    elif "product_data" in params:
        data = as_dict(params["product_data"], "product_data")
        product = create_product(em, data)
    else:
        raise missing_param("product")
    price = new_price(em, params, product["id"])
    if "nickname" in params:
        price["nickname"] = params["nickname"] or None
    if "metadata" in params:
        price["metadata"] = merge_metadata({}, params["metadata"])
    if "active" in params:
        price["active"] = as_bool(params["active"], "active")
    transfer = as_bool(params.get("transfer_lookup_key", False), "transfer_lookup_key")
    _claim_lookup_key(em, price, params.get("lookup_key"), transfer)
    em.store.put(price)
    em.bus.emit("price.created", price)
    return price


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    return em.store.require("price", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, _UPDATE)
    price = em.store.require("price", id)
    with em.bus.updating(price, "price.updated"):
        if "active" in params:
            price["active"] = as_bool(params["active"], "active")
        if "nickname" in params:
            price["nickname"] = params["nickname"] or None
        if "metadata" in params:
            price["metadata"] = merge_metadata(price["metadata"], params["metadata"])
        if "tax_behavior" in params:
            price["tax_behavior"] = params["tax_behavior"]
        if "lookup_key" in params:
            transfer = as_bool(params.get("transfer_lookup_key", False), "transfer_lookup_key")
            _claim_lookup_key(em, price, params["lookup_key"], transfer)
    return price


def list_prices(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "active",
            "currency",
            "product",
            "type",
            "lookup_keys",
            "recurring",
            "limit",
            "starting_after",
            "ending_before",
            "created",
        },
    )
    active = as_bool(params["active"], "active") if "active" in params else None
    lookup_keys = set(as_list(params.get("lookup_keys"), "lookup_keys"))
    recurring = as_dict(params.get("recurring"), "recurring")

    def keep(p: Obj) -> bool:
        if active is not None and p["active"] != active:
            return False
        if lookup_keys and p["lookup_key"] not in lookup_keys:
            return False
        for name in ("currency", "product", "type"):
            if name in params and p[name] != params[name]:
                return False
        if "interval" in recurring:
            return bool(p["recurring"]) and p["recurring"]["interval"] == recurring["interval"]
        return True

    return list_of(em.store.all("price"), params, "/v1/prices", keep)


def register(api: Api) -> None:
    api.route("POST", "/v1/prices", create)
    api.route("GET", "/v1/prices", list_prices)
    api.route("GET", "/v1/prices/<id>", retrieve)
    api.route("POST", "/v1/prices/<id>", update)
