"""Default shapes of invoice items and test clocks (API version 2026-10-28.endive).

Key sets follow Stripe's example objects in ``stripe-fixtures3.json``; importing this module
adds them to ``shapes.DEFAULTS`` like :mod:`flow_shapes` does.
"""

from __future__ import annotations

from typing import Any

from . import shapes

Obj = dict[str, Any]

MORE_DEFAULTS: dict[str, Obj] = {
    "invoiceitem": {
        "amount": 0,
        "currency": None,
        "customer": None,
        "date": None,
        "description": None,
        "discountable": True,
        "discounts": [],
        "id": None,
        "invoice": None,
        "livemode": False,
        "metadata": {},
        "object": "invoiceitem",
        "period": None,
        "proration": False,
        "quantity": 1,
        "tax_rates": [],
        "test_clock": None,
        "parent": None,
        "pricing": None,
        "net_amount": 0,
        "customer_account": None,
        "quantity_decimal": "1",
    },
    "test_helpers.test_clock": {
        "created": None,
        "deletes_after": None,
        "frozen_time": None,
        "id": None,
        "livemode": False,
        "name": None,
        "object": "test_helpers.test_clock",
        "status": "ready",
        "status_details": {},
    },
}

for _name, _shape in MORE_DEFAULTS.items():
    shapes.DEFAULTS.setdefault(_name, _shape)


def new(object_type: str, **values: Any) -> Obj:
    """``shapes.new`` for any type; importing it guarantees these shapes are there."""
    return shapes.new(object_type, **values)
