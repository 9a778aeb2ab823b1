"""In-memory stand-ins for the Caspio client and Stripe gateway (catalog unit tests only).

They keep just enough Stripe behaviour to test the catalog's decisions: lookup keys with
transfer_lookup_key, active filters, product expansion, idempotent replays, 404s.
"""

from __future__ import annotations

import copy
import itertools
from typing import Any

import stripe

from caspio_client import where as w


class FakeCaspio:
    def __init__(self, table: str, key_field: str, rows: list[dict[str, Any]]) -> None:
        self.table = table
        self.key_field = key_field
        self.rows = [{"PK_ID": i + 1, **row} for i, row in enumerate(rows)]
        self.updates: list[tuple[str, str, dict[str, Any]]] = []
        self.selects = 0
        self.fail_updates_for: set[str] = set()

    def select(self, table: str, where: Any = None, **kwargs: Any) -> list[dict[str, Any]]:
        assert table == self.table
        self.selects += 1
        return copy.deepcopy(self.rows)

    def _matches(self, row: dict[str, Any], where: w.Where) -> bool:
        key = row.get(self.key_field)
        if key and "\x00" not in key and w.eq(self.key_field, key).sql == where.sql:
            return True
        return w.eq("PK_ID", row["PK_ID"]).sql == where.sql

    def update(self, table: str, where: w.Where, values: dict[str, Any]) -> int:
        from caspio_client.errors import CaspioServerError

        assert table == self.table
        assert isinstance(where, w.Where)
        if where.sql in self.fail_updates_for:
            raise CaspioServerError("boom", status=500, method="PUT", table=table)
        self.updates.append((table, where.sql, dict(values)))
        matched = [row for row in self.rows if self._matches(row, where)]
        for row in matched:
            row.update(values)
        return len(matched)

    def row(self, key: str) -> dict[str, Any]:
        return next(r for r in self.rows if r.get(self.key_field) == key)


def _obj(values: dict[str, Any]) -> Any:
    return stripe.StripeObject.construct_from(copy.deepcopy(values), "sk_test_fake")


class _Prices:
    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake

    def list(self, params: dict[str, Any], options: Any = None) -> Any:
        self.fake.calls.append(("GET", "/v1/prices", params))
        keys = params.get("lookup_keys")
        assert keys is None or len(keys) <= 10, "Stripe takes at most 10 lookup keys"
        data = []
        for price in self.fake.prices.values():
            if keys is not None and price["lookup_key"] not in keys:
                continue
            if "active" in params and price["active"] != params["active"]:
                continue
            shown = dict(price)
            if "data.product" in params.get("expand", []):
                shown["product"] = self.fake.products[price["product"]]
            data.append(shown)
        return _obj({"object": "list", "data": data, "has_more": False})

    def create(self, params: dict[str, Any], options: Any = None) -> Any:
        return self.fake.write("POST", "/v1/prices", params, options, self._create)

    def _create(self, params: dict[str, Any]) -> dict[str, Any]:
        if params["currency"] in self.fake.refuse_currencies:
            raise stripe.InvalidRequestError("Invalid currency", "currency", http_status=400)
        if params["product"] not in self.fake.products:
            raise stripe.InvalidRequestError("No such product", "product", http_status=400)
        key = params.get("lookup_key")
        holders = [p for p in self.fake.prices.values() if key and p["lookup_key"] == key]
        if holders and not params.get("transfer_lookup_key"):
            raise stripe.InvalidRequestError("lookup key in use", "lookup_key", http_status=400)
        for holder in holders:
            holder["lookup_key"] = None
        price = {
            "id": f"price_{next(self.fake.ids)}",
            "object": "price",
            "active": True,
            "product": params["product"],
            "unit_amount": params["unit_amount"],
            "currency": params["currency"],
            "recurring": dict(params["recurring"]),
            "billing_scheme": "per_unit",
            "lookup_key": key,
            "metadata": dict(params.get("metadata", {})),
        }
        self.fake.prices[price["id"]] = price
        return price

    def retrieve(self, price_id: str, params: Any = None, options: Any = None) -> Any:
        self.fake.calls.append(("GET", f"/v1/prices/{price_id}", {}))
        if price_id not in self.fake.prices:
            raise stripe.InvalidRequestError("No such price", "id", http_status=404)
        return _obj(self.fake.prices[price_id])

    def update(self, price_id: str, params: dict[str, Any], options: Any = None) -> Any:
        def apply(p: dict[str, Any]) -> dict[str, Any]:
            if price_id in self.fake.refuse_price_updates:
                raise stripe.APIError("Stripe is down", http_status=500)
            price = self.fake.prices[price_id]
            price.update(p)
            return price

        return self.fake.write("POST", f"/v1/prices/{price_id}", params, options, apply)


class _Products:
    def __init__(self, fake: FakeStripe) -> None:
        self.fake = fake

    def create(self, params: dict[str, Any], options: Any = None) -> Any:
        def apply(p: dict[str, Any]) -> dict[str, Any]:
            if p["name"] in self.fake.refuse_product_names:
                raise stripe.InvalidRequestError("refused name", "name", http_status=400)
            product = {
                "id": f"prod_{next(self.fake.ids)}",
                "object": "product",
                "active": True,
                "name": p["name"],
                "description": p.get("description"),
                "metadata": dict(p.get("metadata", {})),
            }
            self.fake.products[product["id"]] = product
            return product

        return self.fake.write("POST", "/v1/products", params, options, apply)

    def update(self, product_id: str, params: dict[str, Any], options: Any = None) -> Any:
        def apply(p: dict[str, Any]) -> dict[str, Any]:
            product = self.fake.products[product_id]
            for name, value in p.items():
                if name == "metadata":
                    for key, item in value.items():
                        if item == "":
                            product["metadata"].pop(key, None)
                        else:
                            product["metadata"][key] = item
                elif value == "":
                    product[name] = None
                else:
                    product[name] = value
            return product

        return self.fake.write("POST", f"/v1/products/{product_id}", params, options, apply)

    def retrieve(self, product_id: str, params: Any = None, options: Any = None) -> Any:
        self.fake.calls.append(("GET", f"/v1/products/{product_id}", {}))
        if product_id not in self.fake.products:
            raise stripe.InvalidRequestError("No such product", "id", http_status=404)
        return _obj(self.fake.products[product_id])


class _V1:
    def __init__(self, fake: FakeStripe) -> None:
        self.prices = _Prices(fake)
        self.products = _Products(fake)


class _Client:
    def __init__(self, fake: FakeStripe) -> None:
        self.v1 = _V1(fake)


class FakeStripe:
    """Plays the gateway: ``.client.v1.prices/products`` and ``idempotency_key``."""

    def __init__(self) -> None:
        self.products: dict[str, dict[str, Any]] = {}
        self.prices: dict[str, dict[str, Any]] = {}
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.replays: dict[str, dict[str, Any]] = {}
        self.ids = itertools.count(1)
        self.refuse_product_names: set[str] = set()
        self.refuse_currencies: set[str] = set()
        self.refuse_price_updates: set[str] = set()
        self.client = _Client(self)

    @staticmethod
    def idempotency_key(*parts: object) -> str:
        return "|".join(str(p) for p in parts)

    def write(self, method: str, path: str, params: Any, options: Any, apply: Any) -> Any:
        self.calls.append((method, path, dict(params)))
        key = (options or {}).get("idempotency_key")
        if key is not None and key in self.replays:
            return _obj(self.replays[key])
        result = copy.deepcopy(apply(dict(params)))
        if key is not None:
            self.replays[key] = result
        return _obj(result)

    def writes(self) -> list[tuple[str, str, dict[str, Any]]]:
        return [c for c in self.calls if c[0] == "POST"]

    def active_price(self, lookup_key: str) -> dict[str, Any]:
        (price,) = [
            p for p in self.prices.values() if p["lookup_key"] == lookup_key and p["active"]
        ]
        return price
