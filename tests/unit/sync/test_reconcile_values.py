"""Reconcile's pure parts: Caspio values compared in the writer's form."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from connector.sync.reconcile import caspio_wire, same_value


def test_caspio_values_in_the_writers_form():
    assert caspio_wire(Decimal("20.00")) == 20
    assert caspio_wire(20.5) == 20.5
    assert caspio_wire("2026-11-30T10:00:00.000") == "2026-11-30T10:00:00"
    assert caspio_wire("") is None
    assert caspio_wire(dt.datetime(2026, 11, 30, 10, tzinfo=dt.timezone.utc)) == (
        "2026-11-30T10:00:00"
    )
    assert same_value(20, 20.0) and not same_value(20, 21)
    assert not same_value(True, 1)
    assert same_value("2026-11-30T10:00:00", "2026-11-30T10:00:00.5")
