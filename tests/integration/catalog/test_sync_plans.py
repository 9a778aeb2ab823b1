"""sync-plans against both emulators: Caspio rows in, Stripe products and prices out."""

from __future__ import annotations

from decimal import Decimal

from caspio_client import where as w
from connector.billing.catalog import PlanCatalog
from tests.integration.catalog.conftest import caspio_writes, plan_row, stripe_reads, stripe_writes


def seed(caspio, table, rows):
    for row in rows:
        caspio.insert(table, row)


def rows_by_key(caspio, table):
    return {row["PlanKey"]: row for row in caspio.select(table)}


def fifty_plans():
    intervals = [("day", 30), ("week", 2), ("month", 1), ("month", 3), ("year", 1)]
    currencies = [("usd", Decimal("19.99")), ("jpy", Decimal("2500")), ("kwd", Decimal("4.25"))]
    rows = []
    for i in range(50):
        interval, count = intervals[i % len(intervals)]
        currency, amount = currencies[i % len(currencies)]
        rows.append(
            plan_row(
                f"plan-{i:02d}",
                BillingInterval=interval,
                IntervalCount=count,
                Currency=currency,
                Amount=amount,
            )
        )
    return rows


def test_first_sync_of_50_plans_then_a_second_sync_writes_nothing(
    caspio, gateway, mapping, plans_table, fresh_caspio_emulator, stripe_emulator, stripe_client
):
    seed(caspio, plans_table, fifty_plans())
    catalog = PlanCatalog(caspio, gateway, mapping)

    first = catalog.sync()
    assert first.summary() == "created 50, updated 0, archived 0, unchanged 0, errors 0"
    rows = rows_by_key(caspio, plans_table)
    jpy = rows["plan-01"]
    price = stripe_client.v1.prices.retrieve(jpy["StripePriceID"])
    assert (price.unit_amount, price.currency, price.lookup_key) == (2500, "jpy", "plan-01")
    assert (price.recurring.interval, price.recurring.interval_count) == ("week", 2)
    assert price.product == jpy["StripeProductID"]
    kwd = stripe_client.v1.prices.retrieve(rows["plan-02"]["StripePriceID"])
    assert (kwd.unit_amount, kwd.currency) == (4250, "kwd")
    product = stripe_client.v1.products.retrieve(jpy["StripeProductID"])
    assert product.name == "Plan plan-01"
    assert product.metadata["caspio_plan_key"] == "plan-01"
    assert product.metadata["tier"] == jpy["Tier"]
    assert all(r["SyncStatus"] == "synced" and r["SyncedAt"] for r in rows.values())
    assert len({r["StripePriceID"] for r in rows.values()}) == 50

    fresh_caspio_emulator.controls.reset_calls()
    writes_before, reads_before = stripe_writes(stripe_emulator), stripe_reads(stripe_emulator)

    second = catalog.sync()
    assert second.summary() == "created 0, updated 0, archived 0, unchanged 50, errors 0"
    assert stripe_writes(stripe_emulator) == writes_before
    assert caspio_writes(fresh_caspio_emulator) == 0
    # The reads are batched: 50 plans -> 5 price lists (10 lookup keys each).
    assert stripe_reads(stripe_emulator) - reads_before == 5
    assert rows_by_key(caspio, plans_table) == rows


def test_an_amount_change_moves_the_lookup_key_and_archives_the_old_price(
    caspio, gateway, mapping, plans_table, stripe_client
):
    seed(caspio, plans_table, [plan_row("gold-monthly"), plan_row("silver-monthly")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    old_price_id = rows_by_key(caspio, plans_table)["gold-monthly"]["StripePriceID"]

    caspio.update(plans_table, w.eq("PlanKey", "gold-monthly"), {"Amount": Decimal("24.50")})
    report = catalog.sync()
    assert report.summary() == "created 0, updated 1, archived 0, unchanged 1, errors 0"

    row = rows_by_key(caspio, plans_table)["gold-monthly"]
    assert row["StripePriceID"] != old_price_id
    (current,) = stripe_client.v1.prices.list({"lookup_keys": ["gold-monthly"]}).data
    assert current.id == row["StripePriceID"]
    assert current.unit_amount == 2450 and current.active
    old = stripe_client.v1.prices.retrieve(old_price_id)
    assert old.active is False
    assert old.lookup_key is None
    assert old.product == current.product


def test_an_invalid_plan_is_reported_on_its_row_while_the_rest_sync(
    caspio, gateway, mapping, plans_table
):
    seed(
        caspio,
        plans_table,
        [
            plan_row("good-1"),
            plan_row("gold-monthly", BillingInterval="fortnight"),
            plan_row("too-precise", Amount=Decimal("9.999")),
            plan_row("too-long", BillingInterval="month", IntervalCount=37),
            plan_row("good-2"),
        ],
    )
    report = PlanCatalog(caspio, gateway, mapping).sync()
    assert report.summary() == "created 2, updated 0, archived 0, unchanged 0, errors 3"
    rows = rows_by_key(caspio, plans_table)
    assert rows["gold-monthly"]["SyncStatus"] == "error"
    assert rows["gold-monthly"]["SyncError"] == (
        "BillingInterval 'fortnight' is not one of day, week, month, year"
    )
    assert "Amount 9.999 has too many decimals for usd" in rows["too-precise"]["SyncError"]
    assert "IntervalCount 37 is more than Stripe allows for month" in rows["too-long"]["SyncError"]
    assert rows["gold-monthly"]["StripePriceID"] == ""
    assert rows["good-1"]["SyncStatus"] == rows["good-2"]["SyncStatus"] == "synced"
    messages = sorted(r.error for r in report.errors)
    assert messages[0] == (
        "Billing_Plans PlanKey=gold-monthly: BillingInterval 'fortnight' is not one of "
        "day, week, month, year"
    )


def test_an_inactive_plan_archives_its_price(caspio, gateway, mapping, plans_table, stripe_client):
    seed(caspio, plans_table, [plan_row("retired")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    price_id = rows_by_key(caspio, plans_table)["retired"]["StripePriceID"]
    caspio.update(plans_table, w.eq("PlanKey", "retired"), {"Active": False})
    assert catalog.sync().summary() == "created 0, updated 0, archived 1, unchanged 0, errors 0"
    assert stripe_client.v1.prices.retrieve(price_id).active is False
    assert catalog.sync().summary() == "created 0, updated 0, archived 0, unchanged 1, errors 0"


def test_renamed_tables_and_fields(caspio, gateway, tmp_path, fresh_caspio_emulator, stripe_client):
    from connector.caspio_setup import init_caspio
    from mappings import load_mapping

    path = tmp_path / "mapping.yaml"
    path.write_text(
        "tables:\n  Billing_Plans:\n    name: Membership_Plans\n"
        "    fields: {PlanKey: Plan_Code, Amount: Price}\n"
    )
    mapping = load_mapping(path)
    init_caspio(caspio, mapping)
    row = mapping.to_caspio("Billing_Plans", plan_row("renamed"))
    caspio.insert("Membership_Plans", row)
    assert PlanCatalog(caspio, gateway, mapping).sync().count("created") == 1
    (stored,) = caspio.select("Membership_Plans")
    assert stored["Plan_Code"] == "renamed" and stored["SyncStatus"] == "synced"
    assert stripe_client.v1.prices.retrieve(stored["StripePriceID"]).unit_amount == 999


def test_a_price_create_that_keeps_failing_is_finished_by_the_next_run(
    caspio, gateway, mapping, plans_table, stripe_emulator, stripe_client
):
    seed(caspio, plans_table, [plan_row("flaky"), plan_row("steady")])
    # More 500s than the gateway's retries: the first price create fails for good.
    stripe_emulator.emulator.inject_api_fault(500, count=3, method="POST", path="/v1/prices")
    catalog = PlanCatalog(caspio, gateway, mapping)
    report = catalog.sync()
    assert report.count("error") == 1 and report.count("created") == 1
    rows = rows_by_key(caspio, plans_table)
    failed = next(r for r in rows.values() if r["SyncStatus"] == "error")
    assert failed["StripeProductID"].startswith("prod_")
    assert "Stripe refused (APIError)" in failed["SyncError"]

    report = catalog.sync()
    assert report.summary() == "created 0, updated 1, archived 0, unchanged 1, errors 0"
    rows = rows_by_key(caspio, plans_table)
    assert all(r["SyncStatus"] == "synced" and r["SyncError"] == "" for r in rows.values())
    assert len(stripe_client.v1.products.list({"limit": 100}).data) == 2
    assert len(stripe_client.v1.prices.list({"limit": 100}).data) == 2


def test_a_product_deleted_in_stripe_is_made_again(
    caspio, gateway, mapping, plans_table, stripe_client
):
    payplan = plan_row(
        "pay-3", PlanType="payplan", Amount=None, Balance=Decimal("100"), Installments=3
    )
    seed(caspio, plans_table, [payplan, plan_row("steady")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    gone = rows_by_key(caspio, plans_table)["pay-3"]["StripeProductID"]
    stripe_client.v1.products.delete(gone)  # by hand; it has no prices

    report = catalog.sync()
    assert report.summary() == "created 1, updated 0, archived 0, unchanged 1, errors 0"
    row = rows_by_key(caspio, plans_table)["pay-3"]
    assert row["StripeProductID"] != gone
    product = stripe_client.v1.products.retrieve(row["StripeProductID"])
    assert product.active and product.metadata["caspio_plan_key"] == "pay-3"


def test_a_plan_turned_off_and_on_again_gets_an_active_price_holding_the_key(
    caspio, gateway, mapping, plans_table, stripe_client
):
    seed(caspio, plans_table, [plan_row("on-off")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    first = rows_by_key(caspio, plans_table)["on-off"]["StripePriceID"]
    caspio.update(plans_table, w.eq("PlanKey", "on-off"), {"Active": False})
    catalog.sync()
    # Turned on again with the written-back price id cleared (a copied row, say).
    caspio.update(plans_table, w.eq("PlanKey", "on-off"), {"Active": True, "StripePriceID": ""})
    assert catalog.sync().count("updated") == 1

    row = rows_by_key(caspio, plans_table)["on-off"]
    (current,) = stripe_client.v1.prices.list({"lookup_keys": ["on-off"], "active": True}).data
    assert current.id == row["StripePriceID"] != first
    assert stripe_client.v1.prices.retrieve(first).active is False
    assert catalog.sync().count("unchanged") == 1


def test_a_lookup_key_moved_by_hand_onto_another_plans_price(
    caspio, gateway, mapping, plans_table, stripe_client
):
    seed(caspio, plans_table, [plan_row("gold"), plan_row("silver")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    before = rows_by_key(caspio, plans_table)
    # In the dashboard: silver's price is given gold's lookup key.
    stripe_client.v1.prices.update(
        before["silver"]["StripePriceID"], {"lookup_key": "gold", "transfer_lookup_key": True}
    )
    catalog.sync()
    catalog.sync()

    rows = rows_by_key(caspio, plans_table)
    silver_product = stripe_client.v1.products.retrieve(before["silver"]["StripeProductID"])
    assert silver_product.name == "Plan silver"
    assert silver_product.metadata["caspio_plan_key"] == "silver"
    for key in ("gold", "silver"):
        (price,) = stripe_client.v1.prices.list({"lookup_keys": [key], "active": True}).data
        assert price.product == before[key]["StripeProductID"] == rows[key]["StripeProductID"]
        assert price.id == rows[key]["StripePriceID"]
        assert price.metadata["caspio_plan_key"] == key
    assert catalog.sync().summary() == "created 0, updated 0, archived 0, unchanged 2, errors 0"


def test_an_old_price_a_failed_run_left_active_is_archived_by_the_next_run(
    caspio, gateway, mapping, plans_table, stripe_emulator, stripe_client
):
    seed(caspio, plans_table, [plan_row("gold")])
    catalog = PlanCatalog(caspio, gateway, mapping)
    catalog.sync()
    old = rows_by_key(caspio, plans_table)["gold"]["StripePriceID"]
    caspio.update(plans_table, w.eq("PlanKey", "gold"), {"Amount": Decimal("12.00")})
    # The new price is made; archiving the old one fails past the gateway's retries.
    stripe_emulator.emulator.inject_api_fault(500, count=3, method="POST", path="/v1/prices/{id}")
    assert catalog.sync().count("error") == 1
    assert stripe_client.v1.prices.retrieve(old).active is True

    assert catalog.sync().summary() == "created 0, updated 1, archived 0, unchanged 0, errors 0"
    assert stripe_client.v1.prices.retrieve(old).active is False
    (current,) = stripe_client.v1.prices.list({"lookup_keys": ["gold"], "active": True}).data
    assert rows_by_key(caspio, plans_table)["gold"]["StripePriceID"] == current.id
    assert current.unit_amount == 1200
