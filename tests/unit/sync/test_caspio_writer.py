import datetime as dt
import threading
from decimal import Decimal

import pytest

from connector.sync.caspio_values import to_wire
from connector.sync.caspio_writer import INSERTED, SKIPPED, UPDATED, CaspioWriter, MissingCaspioRow
from connector.sync.row_memory import RowMemory
from tests.unit.sync.fakes import FakeCaspio


@pytest.fixture
def caspio():
    return FakeCaspio()


@pytest.fixture
def writer(store, caspio):
    return CaspioWriter(caspio, RowMemory(store, clock=lambda: 1.0), clock=lambda: 1_900_000_000.0)


def methods(caspio):
    return [(m, t) for m, t, _ in caspio.calls]


def test_first_write_inserts_without_reading(writer, caspio):
    assert writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid"}) == INSERTED
    assert methods(caspio) == [("POST", "Billing_Payouts")]
    assert caspio.row("Billing_Payouts", "po_1") == {
        "PayoutID": "po_1",
        "Status": "paid",
        "UpdatedAt": "2030-03-17T17:46:40",
    }


def test_a_write_that_changes_nothing_is_skipped(writer, caspio):
    writer.upsert(
        "Billing_Payouts", "PayoutID", "po_1", {"Status": "paid", "Amount": Decimal("5.00")}
    )
    assert (
        writer.upsert(
            "Billing_Payouts", "PayoutID", "po_1", {"Status": "paid", "Amount": Decimal("5")}
        )
        == SKIPPED
    )
    assert (
        writer.upsert(
            "Billing_Payouts", "PayoutID", "po_1", {"Status": "failed", "Amount": Decimal("5")}
        )
        == UPDATED
    )
    assert methods(caspio) == [("POST", "Billing_Payouts"), ("PUT", "Billing_Payouts")]
    assert set(caspio.calls[1][2]) == {"Status", "UpdatedAt"}  # only what changed
    assert writer.skipped == 1


def test_lost_memory_falls_back_to_update_on_already_exists(store, caspio):
    CaspioWriter(caspio, RowMemory(store)).upsert(
        "Billing_Payouts", "PayoutID", "po_1", {"Status": "in_transit"}
    )
    store.engine.dispose()
    with store.transaction() as conn:
        conn.exec_driver_sql("DELETE FROM bridge_caspio_rows")
    fresh = CaspioWriter(caspio, RowMemory(store))
    assert fresh.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid"}) == UPDATED
    assert methods(caspio)[1:] == [("POST", "Billing_Payouts"), ("PUT", "Billing_Payouts")]
    assert caspio.row("Billing_Payouts", "po_1")["Status"] == "paid"
    assert len(caspio.tables["Billing_Payouts"]) == 1


def test_a_row_deleted_in_caspio_is_written_again_in_full(writer, caspio):
    writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid", "Amount": 5})
    caspio.tables["Billing_Payouts"].clear()
    assert (
        writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "failed", "Amount": 5})
        == INSERTED
    )
    assert caspio.row("Billing_Payouts", "po_1")["Amount"] == 5


def test_update_of_an_app_owned_row_that_is_missing_raises(writer):
    with pytest.raises(
        MissingCaspioRow, match="Billing_Subscriptions has no row with SubscriptionKey = 'nope'"
    ):
        writer.update("Billing_Subscriptions", "SubscriptionKey", "nope", {"Status": "active"})


def test_a_failed_write_is_not_remembered(writer, caspio):
    caspio.failing_writes = 1
    with pytest.raises(Exception, match="unavailable"):
        writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid"})
    assert writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid"}) == INSERTED


def test_values_are_sent_the_way_caspio_reads_them():
    assert to_wire(Decimal("12.50")) == 12.5
    assert to_wire(Decimal("12.00")) == 12
    assert to_wire(True) is True
    when = dt.datetime(2027, 1, 2, 3, 4, 5, 678, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_wire(when) == "2027-01-02T01:04:05"
    assert to_wire(dt.date(2027, 1, 2)) == "2027-01-02T00:00:00"
    with pytest.raises(TypeError):
        to_wire(object())


def test_a_renamed_mapping_is_used_for_tables_fields_and_where(store, tmp_path):
    from mappings import load_mapping

    renames = tmp_path / "map.yaml"
    renames.write_text(
        "tables:\n"
        "  Billing_Payouts:\n"
        "    name: MyPayouts\n"
        "    fields:\n"
        "      PayoutID: {name: PID}\n"
        "      Status: {name: State}\n"
    )
    mapping = load_mapping(str(renames))
    caspio = FakeCaspio()
    caspio.tables["MyPayouts"] = []
    import tests.unit.sync.fakes as fakes

    fakes.UNIQUE_KEYS["MyPayouts"] = "PID"
    try:
        writer = CaspioWriter(caspio, RowMemory(store), mapping)
        writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "paid"})
        writer.upsert("Billing_Payouts", "PayoutID", "po_1", {"Status": "failed"})
    finally:
        del fakes.UNIQUE_KEYS["MyPayouts"]
    assert caspio.tables["MyPayouts"][0]["PID"] == "po_1"
    assert caspio.tables["MyPayouts"][0]["State"] == "failed"


def test_concurrent_merges_keep_every_field(store):
    memory = RowMemory(store)
    barrier = threading.Barrier(4)

    def remember(n):
        barrier.wait()
        for i in range(10):
            memory.remember("Billing_Subscriptions", "K", {f"F{n}_{i}": i})

    threads = [threading.Thread(target=remember, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(memory.get("Billing_Subscriptions", "K").values) == 40
