"""``/v1/products``."""

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

_WRITABLE = {
    "active",
    "description",
    "images",
    "metadata",
    "name",
    "shippable",
    "statement_descriptor",
    "tax_code",
    "unit_label",
    "url",
    "marketing_features",
    "default_price",
}


def _apply(em: StripeEmulator, product: Obj, params: Obj) -> None:
    for name in ("description", "statement_descriptor", "tax_code", "unit_label", "url"):
        if name in params:
            product[name] = params[name] or None
    if "name" in params:
        if not params["name"]:
            raise invalid("Products need a name.", param="name")
        product["name"] = params["name"]
    if "active" in params:
        product["active"] = as_bool(params["active"], "active")
    if "shippable" in params:
        product["shippable"] = as_bool(params["shippable"], "shippable")
    if "images" in params:
        product["images"] = as_list(params["images"], "images")
    if "marketing_features" in params:
        product["marketing_features"] = [
            {"name": f.get("name")}
            for f in as_list(params["marketing_features"], "marketing_features")
        ]
    if "metadata" in params:
        product["metadata"] = merge_metadata(product["metadata"], params["metadata"])
    if "default_price" in params:
        price = em.store.require("price", params["default_price"], "default_price")
        if price["product"] != product["id"]:
            raise invalid("The default price must belong to this product.", param="default_price")
        product["default_price"] = price["id"]


def create(em: StripeEmulator, params: Obj) -> Obj:
    require_params(params, (_WRITABLE - {"default_price"}) | {"id", "type"})
    if not params.get("name"):
        raise missing_param("name")
    product_id = params.get("id") or em.ids.new("prod")
    if em.store.get(product_id) is not None:
        raise invalid("Product already exists.", param="id", code="resource_already_exists")
    now = em.clock.now()
    product = shapes.new("product", id=product_id, created=now, updated=now, name=params["name"])
    _apply(em, product, params)
    em.store.put(product)
    em.bus.emit("product.created", product)
    return product


def retrieve(em: StripeEmulator, params: Obj, id: str) -> Obj:
    obj = em.store.get(id)
    if obj is not None and obj.get("deleted") and obj["object"] == "product":
        return obj
    return em.store.require("product", id)


def update(em: StripeEmulator, params: Obj, id: str) -> Obj:
    require_params(params, _WRITABLE)
    product = em.store.require("product", id)
    with em.bus.updating(product, "product.updated"):
        _apply(em, product, params)
        product["updated"] = em.clock.now()
    return product


def delete(em: StripeEmulator, params: Obj, id: str) -> Obj:
    product = em.store.require("product", id)
    if any(p["product"] == id for p in em.store.all("price")):
        raise invalid(
            "This product cannot be deleted because it has one or more user-created prices."
        )
    em.store.replace("product", shapes.deleted("product", id))
    em.bus.emit("product.deleted", product)
    return shapes.deleted("product", id)


def list_products(em: StripeEmulator, params: Obj) -> Obj:
    require_params(
        params,
        {
            "active",
            "ids",
            "limit",
            "starting_after",
            "ending_before",
            "created",
            "shippable",
            "url",
        },
    )
    active = as_bool(params["active"], "active") if "active" in params else None
    ids = set(as_list(params.get("ids"), "ids"))

    def keep(p: Obj) -> bool:
        return (active is None or p["active"] == active) and (not ids or p["id"] in ids)

    return list_of(em.store.all("product"), params, "/v1/products", keep)


def register(api: Api) -> None:
    api.route("POST", "/v1/products", create)
    api.route("GET", "/v1/products", list_products)
    api.route("GET", "/v1/products/<id>", retrieve)
    api.route("POST", "/v1/products/<id>", update)
    api.route("DELETE", "/v1/products/<id>", delete)
