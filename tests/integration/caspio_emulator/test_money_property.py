"""Property: Currency values survive the round trip exactly, and sums are exact.

Any amount with at most four decimals (SQL Server ``money``) inserted through the client
reads back equal, and ``SUM`` over them equals the exact decimal sum: no ``0.1 + 0.2``
drift anywhere between the client, the emulator and SQLite.
"""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from caspio_client import CaspioClient
from caspio_client import where as w
from sandbox.caspio import run_emulator
from sandbox.caspio.server import RunningEmulator

from .conftest import RawApi

AMOUNTS = st.decimals(min_value=Decimal("-99999999999"), max_value=Decimal("99999999999"),
                      places=4, allow_nan=False, allow_infinity=False)


@pytest.fixture(scope="module")
def money() -> Iterator[tuple[RunningEmulator, CaspioClient]]:
    with run_emulator() as running, CaspioClient(
        running.base_url, running.client_id, running.client_secret, timeout=10,
        sleep=lambda seconds: None,
    ) as client:
        client.create_table("Money", [{"Name": "Amount", "Type": "CURRENCY"}])
        yield running, client


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(amounts=st.lists(AMOUNTS, min_size=1, max_size=6))
def test_currency_round_trip_and_sum_are_exact(money: tuple[RunningEmulator, CaspioClient],
                                               amounts: list[Decimal]):
    running, client = money
    client.delete("Money", w.gt("PK_ID", 0))
    stored = [client.insert("Money", {"Amount": amount})["Amount"] for amount in amounts]
    assert stored == amounts
    read = [row["Amount"] for row in client.select("Money", fields=["Amount"])]
    assert read == amounts
    raw = RawApi(running)
    try:
        answer = raw.get("/tables/Money/records", params={"q.select": "SUM(Amount) AS Total"})
    finally:
        raw.close()
    total = answer.json(parse_float=Decimal)["Result"][0]["Total"]
    exact_sum = sum(amounts, Decimal(0))
    if abs(exact_sum) < Decimal("1e11"):  # a double carries 15 digits exactly
        assert total == exact_sum
