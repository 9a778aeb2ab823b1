"""Metering, and one shared token across real threads."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from caspio_client import CaspioClient, CaspioNotFound
from caspio_client import where as w
from caspio_client.metering import CallMeter

from .conftest import FakeTable, TokenServer, caspio_error


def test_meter_counts_by_method_table_and_status(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    plans = add_table("Plans", rows=2)
    add_table("Payments", unique="InvoiceID")
    list(client.select("Plans"))
    client.insert("Payments", {"InvoiceID": "in_1"})
    plans.faults = [caspio_error(404, "ObjectNotFound", "gone")]
    with pytest.raises(CaspioNotFound):
        client.get_one("Plans", w.eq("PK_ID", 1))
    snapshot = client.meter.snapshot()
    assert snapshot == {
        ("POST", "oauth", 200): 1,
        ("GET", "Plans", 200): 1,
        ("POST", "Payments", 201): 1,
        ("GET", "Plans", 404): 1,
    }
    assert client.meter.total() == 4
    # A snapshot is a copy.
    client.get_one("Plans", w.eq("PK_ID", 1))
    assert snapshot[("GET", "Plans", 200)] == 1
    client.meter.reset()
    assert client.meter.snapshot() == {} and client.meter.total() == 0


def test_subscribers_hear_of_each_call_from_then_on(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    add_table("Plans", rows=1)
    list(client.select("Plans"))
    heard: list[tuple[str, str, int]] = []
    client.meter.subscribe(lambda method, table, status: heard.append((method, table, status)))
    list(client.select("Plans"))
    client.meter.record("get", "Plans", 0)
    assert heard == [("GET", "Plans", 200), ("GET", "Plans", 0)]


def test_meter_is_thread_safe() -> None:
    meter = CallMeter()

    def hammer() -> None:
        for _ in range(2000):
            meter.record("GET", "T", 200)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert meter.snapshot() == {("GET", "T", 200): 16000}


def test_threads_share_one_token(
    client: CaspioClient, tokens: TokenServer, add_table: Callable[..., FakeTable]
) -> None:
    add_table("Plans", rows=3)
    # A slow token endpoint widens the window in which every thread wants a token.
    latency = threading.Event()
    tokens.before_answer = lambda: latency.wait(0.05)
    start = threading.Barrier(8)

    def worker(n: int) -> int:
        start.wait()
        found = 0
        for i in range(20):
            if client.get_one("Plans", w.eq("PK_ID", (n + i) % 3 + 1)) is not None:
                found += 1
        return found

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(worker, range(8)))
    assert results == [20] * 8
    assert len(tokens.issued) == 1
    assert client.meter.snapshot() == {("POST", "oauth", 200): 1, ("GET", "Plans", 200): 160}
