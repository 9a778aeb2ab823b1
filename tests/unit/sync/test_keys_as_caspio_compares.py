"""Issue 10 fault 8: keys Caspio treats as one (case and trailing spaces ignored, SQL
Server's default collation) are one key everywhere in the bridge: the writer's memory, the
subscription records the totals are summed from, the plan cache. Through the signed webhook
endpoint and the worker; the fake Caspio compares text as Caspio does."""

from __future__ import annotations

from typing import Any

import pytest

from connector.sync.caspio_keys import caspio_key
from connector.sync.row_memory import RowMemory
from connector.sync.subscription_records import SubscriptionRecord, SubscriptionRecords
from tests.fixtures import stripe_events as se
from tests.unit.sync.fakes import FakeCaspio
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000


@pytest.fixture
def bridge(store: Any) -> Bridge:
    b = Bridge(store)
    seed_caspio(b.caspio)
    b.caspio.tables["Billing_Customers"].append({"CustomerKey": "ck1-alice"})
    b.caspio.tables["Billing_Subscriptions"] += [
        {"SubscriptionKey": "SUB-1", "CustomerKey": "ck1-alice", "PlanKey": "gold"},
        {"SubscriptionKey": "SUB-2", "CustomerKey": "ck1-alice", "PlanKey": "gold"},
    ]
    return b


def alice_totals(bridge: Bridge | FakeCaspio) -> tuple[Any, Any, Any]:
    caspio = bridge if isinstance(bridge, FakeCaspio) else bridge.caspio
    rows = [
        r
        for r in caspio.tables["Billing_Customers"]
        if caspio_key(str(r["CustomerKey"])) == "ck1-alice"
    ]
    assert len(rows) == 1, rows
    return rows[0]["AvgMonthlyTotal"], rows[0]["AvgYearlyTotal"], rows[0]["ActiveSubscriptions"]


def sub_event(sub_id: str, sub_key: str, customer_key: str, amount: int, at: int) -> Any:
    sub = se.subscription(
        sub_id, amount=amount, customer=f"cus_{sub_id}", sub_key=sub_key, customer_key=customer_key
    )
    return sub, se.event("customer.subscription.updated", sub, at)


def test_two_spellings_of_one_customer_add_up_and_a_redelivery_changes_nothing(
    bridge: Bridge,
) -> None:
    sub1, first = sub_event("sub_1", "SUB-1", "ck1-alice", 1000, T)
    sub2, second = sub_event("sub_2", "SUB-2", "CK1-ALICE", 5000, T + 1)
    bridge.stripe.subscriptions.update({"sub_1": sub1, "sub_2": sub2})
    bridge.post(first, second)
    assert alice_totals(bridge) == (60, 720, 2)
    writes = bridge.caspio.writes()
    bridge.post(first | {"id": "evt_redelivered"})  # Stripe redelivers the first
    assert alice_totals(bridge) == (60, 720, 2)
    assert bridge.caspio.writes() == writes  # nothing to change: nothing written


def test_trailing_spaces_name_the_same_customer(bridge: Bridge) -> None:
    sub1, first = sub_event("sub_1", "SUB-1", "ck1-alice", 1000, T)
    sub2, second = sub_event("sub_2", "SUB-2", "ck1-alice  ", 5000, T + 1)
    bridge.stripe.subscriptions.update({"sub_1": sub1, "sub_2": sub2})
    bridge.post(first, second)
    assert alice_totals(bridge) == (60, 720, 2)


def test_a_customer_moving_between_spellings_is_not_counted_twice(bridge: Bridge) -> None:
    sub1, first = sub_event("sub_1", "SUB-1", "ck1-alice", 1000, T)
    bridge.stripe.subscriptions["sub_1"] = sub1
    bridge.post(first)
    moved, again = sub_event("sub_1", "SUB-1", "CK1-Alice", 1000, T + 5)
    bridge.stripe.subscriptions["sub_1"] = moved
    bridge.post(again)
    assert alice_totals(bridge) == (10, 120, 1)


def test_one_subscription_row_under_two_spellings_is_one_memory(bridge: Bridge) -> None:
    sub1, first = sub_event("sub_1", "SUB-1", "ck1-alice", 1000, T)
    bridge.stripe.subscriptions["sub_1"] = sub1
    bridge.post(first)
    puts = bridge.caspio.writes()
    relabelled = se.subscription(
        "sub_1", amount=1000, customer="cus_sub_1", sub_key="sub-1 ", customer_key="ck1-alice"
    )
    bridge.stripe.subscriptions["sub_1"] = relabelled
    bridge.post(se.event("customer.subscription.updated", relabelled, T + 5))
    assert bridge.caspio.writes() == puts  # Caspio holds these values already


def test_payment_rows_keyed_alike_are_one_memory(bridge: Bridge) -> None:
    paid = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    bridge.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {}}
    bridge.post(se.event("invoice.paid", paid, T))
    memory = RowMemory(bridge.store)
    assert memory.get("Billing_Payments", "IN_1 ") == memory.get("Billing_Payments", "in_1")


def test_a_plan_spelled_two_ways_is_read_from_caspio_once(bridge: Bridge) -> None:
    def paid(invoice_id: str, plan_key: str, at: int) -> Any:
        inv = se.invoice(
            invoice_id,
            status="paid",
            amount_paid=2000,
            attempt_count=1,
            paid_at=at,
            plan_key=plan_key,
        )
        return se.event("invoice.paid", inv, at)

    bridge.post(paid("in_1", "gold", T), paid("in_2", "GOLD ", T + 1))
    plan_reads = [c for c in bridge.caspio.calls if c[:2] == ("GET", "Billing_Plans")]
    assert len(plan_reads) == 1


def test_records_group_customers_as_caspio_compares_them(store: Any) -> None:
    records = SubscriptionRecords(store)
    for sub_id, key in (("sub_1", "ck1-alice"), ("sub_2", "CK1-ALICE "), ("sub_3", "bob")):
        records.put(SubscriptionRecord(sub_id, None, key, "active", 100, "usd", "month", 1))
    assert [r.subscription_id for r in records.for_customer("Ck1-Alice")] == ["sub_1", "sub_2"]


def test_memory_written_before_is_brought_to_the_caspio_spelling(store: Any) -> None:
    """Revision 0005: memories under another spelling are dropped, records rewritten."""
    import sqlalchemy as sa
    from alembic import command

    from connector import migrations
    from connector.sync.key_cache import PLAN, KeyCache

    config = migrations.alembic_config()
    with store.transaction() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0004")
    with store.transaction() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO bridge_caspio_rows VALUES "
                "('Billing_Customers', 'CK1-ALICE', '{}', true, 1.0), "
                "('Billing_Customers', 'bob', '{}', true, 1.0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO bridge_key_cache VALUES ('plan', 'Gold ', '{}', 1.0), "
                "('plan', 'silver', '{}', 1.0), ('customer_key', 'cus_AbC', '\"K\"', 1.0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO bridge_subscriptions VALUES "
                "('sub_1', 'SUB-1', 'CK1-Alice ', 'active', 100, 'usd', 'month', 1, 1.0)"
            )
        )
    assert store.migrate() == migrations.head_revision()
    memory = RowMemory(store)
    assert memory.get("Billing_Customers", "ck1-alice") is None  # dropped: next write is full
    assert memory.get("Billing_Customers", "BOB") is not None
    cache = KeyCache(store)
    assert cache.get(PLAN, "gold") is None and cache.get(PLAN, "silver") == {}
    assert cache.get("customer_key", "cus_AbC") == "K"  # Stripe ids keep their case
    records = SubscriptionRecords(store)
    assert [r.subscription_id for r in records.for_customer("ck1-alice")] == ["sub_1"]


def test_two_workers_summing_one_caspio_customer_take_turns(store: Any) -> None:
    """Two Stripe customers naming one Caspio customer are leased apart by the inbox; the
    totals lock keeps one worker from summing without the other's subscription."""
    import threading

    caspio = FakeCaspio()
    first, second = Bridge(store, caspio=caspio), Bridge(store, caspio=caspio)
    seed_caspio(caspio)
    caspio.tables["Billing_Customers"].append({"CustomerKey": "ck1-alice"})
    caspio.tables["Billing_Subscriptions"] += [
        {"SubscriptionKey": "SUB-1", "CustomerKey": "ck1-alice", "PlanKey": "gold"},
        {"SubscriptionKey": "SUB-2", "CustomerKey": "ck1-alice", "PlanKey": "gold"},
    ]
    sub1, event1 = sub_event("sub_1", "SUB-1", "ck1-alice", 1000, T)
    sub2, event2 = sub_event("sub_2", "SUB-2", "CK1-ALICE", 5000, T + 1)
    first.stripe.subscriptions["sub_1"] = sub1
    second.stripe.subscriptions["sub_2"] = sub2

    inside, release = threading.Event(), threading.Event()
    update = caspio.update

    def held_update(table: str, where: Any, values: Any) -> int:
        # The first worker stops inside its totals write until the second has had its go.
        if table == "Billing_Customers" and threading.current_thread().name == "first":
            inside.set()
            release.wait(10)
        return update(table, where, values)

    caspio.update = held_update  # type: ignore[method-assign]
    one = threading.Thread(target=first.deliver, args=(event1,), name="first")
    two = threading.Thread(target=second.deliver, args=(event2,), name="second")
    one.start()
    assert inside.wait(10)
    two.start()
    two.join(1.0)  # without the lock it runs to the end here, summing without sub_1
    release.set()
    one.join(10)
    two.join(10)
    assert alice_totals(caspio) == (60, 720, 2)
