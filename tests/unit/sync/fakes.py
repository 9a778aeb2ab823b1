"""Small in-memory stand-ins with the real interfaces, counting every call."""

from __future__ import annotations

import copy
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import stripe

from caspio_client import CallMeter, Where
from caspio_client.errors import CaspioAlreadyExists, CaspioServerError

_EQ = re.compile(r"^(\w+) = '((?:[^']|'')*)'$")

UNIQUE_KEYS = {
    "Billing_Payments": "InvoiceID",
    "Billing_Payouts": "PayoutID",
    "Billing_Disputes": "DisputeID",
    "Billing_Subscriptions": "SubscriptionKey",
    "Billing_Customers": "CustomerKey",
    "Billing_Plans": "PlanKey",
}


def _match(where: Where) -> tuple[str, str]:
    found = _EQ.match(where.sql)
    assert found, f"the fake understands only eq(): {where.sql}"
    return found.group(1), found.group(2).replace("''", "'")


def _same(stored: Any, wanted: Any) -> bool:
    """Text compared as Caspio (SQL Server's default collation) compares it: case and
    trailing spaces ignored."""
    if stored is None or wanted is None:
        return stored is wanted
    return str(stored).rstrip(" ").lower() == str(wanted).rstrip(" ").lower()


class FakeCaspio:
    """CaspioClient's record calls over dicts; unique keys raise CaspioAlreadyExists."""

    def __init__(self) -> None:
        self.tables: dict[str, list[dict[str, Any]]] = {t: [] for t in UNIQUE_KEYS}
        self.meter = CallMeter()
        self.calls: list[tuple[str, str, dict[str, Any]]] = []
        self.failing_writes = 0  # the next N writes fail with a 503

    def _count(self, method: str, table: str, body: Mapping[str, Any] | None = None) -> None:
        self.calls.append((method, table, dict(body or {})))
        if method in ("POST", "PUT") and self.failing_writes > 0:
            self.failing_writes -= 1
            self.meter.record(method, table, 503)
            raise CaspioServerError("unavailable", status=503, method=method, table=table)
        self.meter.record(method, table, 200)

    def select(self, table: str, where: Where | None = None, **_: Any) -> Iterator[dict[str, Any]]:
        self._count("GET", table)
        rows = self.tables[table]
        if where is not None:
            name, value = _match(where)
            rows = [r for r in rows if _same(r.get(name), value)]
        return iter([dict(r) for r in rows])

    def get_one(self, table: str, where: Where) -> dict[str, Any] | None:
        rows = list(self.select(table, where))
        return rows[0] if rows else None

    def insert(self, table: str, values: Mapping[str, Any]) -> dict[str, Any]:
        self._count("POST", table, values)
        key = UNIQUE_KEYS[table]
        if any(_same(r.get(key), values.get(key)) for r in self.tables[table]):
            raise CaspioAlreadyExists("exists", status=400, method="POST", table=table)
        self.tables[table].append(dict(values))
        return dict(values)

    def update(self, table: str, where: Where, values: Mapping[str, Any]) -> int:
        self._count("PUT", table, values)
        name, value = _match(where)
        hits = [r for r in self.tables[table] if _same(r.get(name), value)]
        for row in hits:
            row.update(values)
        return len(hits)

    def row(self, table: str, key: str) -> dict[str, Any] | None:
        found = [r for r in self.tables[table] if _same(r.get(UNIQUE_KEYS[table]), key)]
        return found[0] if found else None

    def snapshot(
        self, *, without: tuple[str, ...] = ("UpdatedAt",)
    ) -> dict[str, list[dict[str, Any]]]:
        """Every table's rows, sorted, without volatile fields: for comparing end states."""
        out = {}
        for table, rows in self.tables.items():
            key = UNIQUE_KEYS[table]
            clean = [{k: v for k, v in r.items() if k not in without} for r in rows]
            out[table] = sorted(clean, key=lambda r: str(r.get(key)))
        return out

    def writes(self) -> int:
        return sum(1 for method, _t, _b in self.calls if method in ("POST", "PUT"))


def _missing(kind: str, object_id: str) -> stripe.InvalidRequestError:
    """What stripe-python raises for Stripe's 404 `resource_missing`."""
    return stripe.InvalidRequestError(
        f"No such {kind}: '{object_id}'", "id", code="resource_missing", http_status=404
    )


class FakeStripe:
    """StripeReader over dicts (the objects' current state), counting calls."""

    def __init__(self) -> None:
        self.subscriptions: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.payments: dict[str, list[dict[str, Any]]] = {}  # invoice id -> invoice payments
        self.charges: dict[str, list[dict[str, Any]]] = {}  # payment intent id -> charges
        self.objects: dict[str, dict[str, Any]] = {}  # any other object by id, for retrieve
        self.prices: dict[str, dict[str, Any]] = {}  # price id -> price with its tiers
        self.deleted_customers: set[str] = set()  # answered with 404, as Stripe does
        self.wiped: set[str] = set()  # invoices and intents whose lists answer 404
        self.calls: Counter[str] = Counter()

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        self.calls["subscriptions.retrieve"] += 1
        if subscription_id not in self.subscriptions:
            raise _missing("subscription", subscription_id)
        return copy.deepcopy(self.subscriptions[subscription_id])

    def retrieve(self, object_type: str, object_id: str) -> dict[str, Any]:
        """Any object by type, as Stripe has it now (at the pinned version)."""
        self.calls[f"{object_type}.retrieve"] += 1
        if object_type == "subscription" and object_id in self.subscriptions:
            return copy.deepcopy(self.subscriptions[object_id])
        if object_id not in self.objects:
            raise _missing(object_type, object_id)
        return copy.deepcopy(self.objects[object_id])

    def price(self, price_id: str) -> dict[str, Any]:
        self.calls["prices.retrieve"] += 1
        if price_id not in self.prices:
            raise _missing("price", price_id)
        return copy.deepcopy(self.prices[price_id])

    def customer(self, customer_id: str) -> dict[str, Any]:
        self.calls["customers.retrieve"] += 1
        if customer_id in self.deleted_customers:
            raise _missing("customer", customer_id)
        return copy.deepcopy(self.customers.get(customer_id, {"id": customer_id, "metadata": {}}))

    def invoice_payments(self, invoice_id: str) -> list[dict[str, Any]]:
        self.calls["invoice_payments.list"] += 1
        if invoice_id in self.wiped:
            raise _missing("invoice", invoice_id)
        return copy.deepcopy(self.payments.get(invoice_id, []))

    def invoice_payments_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        self.calls["invoice_payments.list"] += 1
        if payment_intent_id in self.wiped:
            raise _missing("payment_intent", payment_intent_id)
        return [
            copy.deepcopy(p)
            for payments in self.payments.values()
            for p in payments
            if (p.get("payment") or {}).get("payment_intent", {}).get("id") == payment_intent_id
        ]

    def charges_for_intent(self, payment_intent_id: str) -> list[dict[str, Any]]:
        self.calls["charges.list"] += 1
        if payment_intent_id in self.wiped:
            raise _missing("payment_intent", payment_intent_id)
        return copy.deepcopy(self.charges.get(payment_intent_id, []))


class FakeRetryLinks:
    def __init__(self):
        self.ended = []

    def subscription_ended(self, ctx, subscription_id):
        self.ended.append(subscription_id)
        return 0

    def payment_fields(self, ctx, invoice, status, attempt, row):
        if status == "failed" and invoice.get("status") == "open":
            return {
                "RetryURL": f"http://127.0.0.1:8000/payments/{invoice['id']}/retry?token=t{attempt}",
                "RetryStatus": "available",
            }
        return {}
