import datetime as dt
from decimal import Decimal

import pytest

from connector.billing.catalog import (
    ARCHIVED,
    CREATED,
    ERROR,
    UNCHANGED,
    UPDATED,
    LivePrice,
    LiveProduct,
    PlanCatalog,
    PriceSpec,
    plan_actions,
    price_spec,
    product_spec,
)
from connector.billing.plans import Plan
from mappings import load_mapping
from tests.unit.billing.fakes import FakeCaspio, FakeStripe

MAPPING = load_mapping()
NOW = dt.datetime(2026, 11, 21, 21, 0, 5, tzinfo=dt.timezone.utc)


def plan_row(key, **values):
    row = {
        "PlanKey": key,
        "Name": f"Plan {key}",
        "Tier": "Gold",
        "Description": "",
        "Amount": Decimal("10.00"),
        "Currency": "usd",
        "BillingInterval": "month",
        "IntervalCount": 1,
        "PlanType": "subscription",
        "Active": True,
        "StripeProductID": "",
        "StripePriceID": "",
        "SyncStatus": "",
        "SyncError": "",
        "SyncedAt": None,
    }
    row.update(values)
    return row


def make(rows):
    caspio = FakeCaspio("Billing_Plans", "PlanKey", rows)
    stripe = FakeStripe()
    catalog = PlanCatalog(caspio, stripe, MAPPING, now=lambda: NOW)
    return caspio, stripe, catalog


def test_first_sync_creates_a_product_and_price_per_plan_and_writes_back():
    caspio, stripe, catalog = make([plan_row(f"p{i}") for i in range(25)])
    report = catalog.sync()
    assert report.summary() == "created 25, updated 0, archived 0, unchanged 0, errors 0"
    price = stripe.active_price("p3")
    assert price["unit_amount"] == 1000
    assert price["recurring"] == {"interval": "month", "interval_count": 1}
    assert price["metadata"] == {"caspio_plan_key": "p3"}
    product = stripe.products[price["product"]]
    assert product["name"] == "Plan p3"
    assert product["metadata"] == {"caspio_plan_key": "p3", "tier": "Gold"}
    row = caspio.row("p3")
    assert row["StripeProductID"] == product["id"]
    assert row["StripePriceID"] == price["id"]
    assert row["SyncStatus"] == "synced"
    assert row["SyncedAt"] == "2026-11-21T21:00:05"
    assert len(caspio.updates) == 25
    # 25 plans -> 3 batched lookups (10 keys each at most).
    assert len([c for c in stripe.calls if c[1] == "/v1/prices" and c[0] == "GET"]) == 3


def test_second_sync_writes_nothing_anywhere():
    caspio, stripe, catalog = make([plan_row(f"p{i}") for i in range(25)])
    catalog.sync()
    writes, updates = len(stripe.writes()), len(caspio.updates)
    stripe.calls.clear()
    report = catalog.sync()
    assert report.summary() == "created 0, updated 0, archived 0, unchanged 25, errors 0"
    assert stripe.writes() == []
    assert len(caspio.updates) == updates
    assert len(stripe.calls) == 3  # reads only
    assert len(stripe.prices) == 25 and writes == 50


def test_amount_change_moves_the_lookup_key_and_archives_the_old_price():
    caspio, stripe, catalog = make([plan_row("gold"), plan_row("silver")])
    catalog.sync()
    old = stripe.active_price("gold")
    caspio.row("gold")["Amount"] = Decimal("12.50")
    report = catalog.sync()
    assert report.summary() == "created 0, updated 1, archived 0, unchanged 1, errors 0"
    new = stripe.active_price("gold")
    assert new["id"] != old["id"]
    assert new["unit_amount"] == 1250
    assert new["product"] == old["product"]
    assert stripe.prices[old["id"]]["active"] is False
    assert stripe.prices[old["id"]]["lookup_key"] is None
    assert caspio.row("gold")["StripePriceID"] == new["id"]
    # and back again: a third price, not a replay of the first one
    caspio.row("gold")["Amount"] = Decimal("10.00")
    catalog.sync()
    third = stripe.active_price("gold")
    assert third["id"] not in (old["id"], new["id"])
    assert third["unit_amount"] == 1000


@pytest.mark.parametrize(
    "change", [{"Currency": "eur"}, {"BillingInterval": "year"}, {"IntervalCount": 3}]
)
def test_currency_or_interval_change_makes_a_new_price(change):
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    old = stripe.active_price("gold")
    caspio.row("gold").update(change)
    assert catalog.sync().count(UPDATED) == 1
    assert stripe.active_price("gold")["id"] != old["id"]


def test_name_description_and_tier_update_the_product_in_place():
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    price = stripe.active_price("gold")
    stripe.calls.clear()
    caspio.row("gold").update(Name="Gold+", Description="Best", Tier="")
    report = catalog.sync()
    assert report.count(UPDATED) == 1
    assert [c[1] for c in stripe.writes()] == [f"/v1/products/{price['product']}"]
    assert stripe.writes()[0][2] == {
        "name": "Gold+",
        "description": "Best",
        "metadata": {"tier": ""},
    }
    product = stripe.products[price["product"]]
    assert product["metadata"] == {"caspio_plan_key": "gold"}
    assert stripe.active_price("gold")["id"] == price["id"]
    # ids did not change, but SyncedAt records the change
    assert caspio.updates[-1][2] == {"SyncedAt": "2026-11-21T21:00:05"}


def test_inactive_plan_archives_its_price_once():
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    price = stripe.active_price("gold")
    caspio.row("gold")["Active"] = False
    assert catalog.sync().count(ARCHIVED) == 1
    assert stripe.prices[price["id"]]["active"] is False
    stripe.calls.clear()
    assert catalog.sync().count(UNCHANGED) == 1
    assert stripe.writes() == []
    # re-activated: a new price takes the key back, on the same product
    caspio.row("gold")["Active"] = True
    assert catalog.sync().count(UPDATED) == 1
    again = stripe.active_price("gold")
    assert again["product"] == price["product"] and again["id"] != price["id"]
    assert len(stripe.products) == 1


def test_inactive_plan_never_synced_creates_nothing():
    caspio, stripe, catalog = make([plan_row("gold", Active=False)])
    assert catalog.sync().count(UNCHANGED) == 1
    assert stripe.writes() == []


def test_invalid_plan_is_reported_on_its_row_while_the_others_sync():
    caspio, stripe, catalog = make(
        [plan_row("a"), plan_row("bad", BillingInterval="fortnight"), plan_row("c")]
    )
    report = catalog.sync()
    assert report.summary() == "created 2, updated 0, archived 0, unchanged 0, errors 1"
    (error,) = report.errors
    assert error.error == (
        "Billing_Plans PlanKey=bad: BillingInterval 'fortnight' is not one of "
        "day, week, month, year"
    )
    bad = caspio.row("bad")
    assert bad["SyncStatus"] == "error"
    assert bad["SyncError"] == "BillingInterval 'fortnight' is not one of day, week, month, year"
    assert not bad["StripePriceID"]
    # the same error again is not written again
    updates = len(caspio.updates)
    catalog.sync()
    assert len(caspio.updates) == updates
    # fixed: synced, error cleared
    bad["BillingInterval"] = "week"
    catalog.sync()
    assert caspio.row("bad")["SyncStatus"] == "synced"
    assert caspio.row("bad")["SyncError"] is None


def test_a_stripe_refusal_stops_only_that_plan():
    caspio, stripe, catalog = make([plan_row("a"), plan_row("b", Name="Refused"), plan_row("c")])
    stripe.refuse_product_names.add("Refused")
    report = catalog.sync()
    assert report.count(CREATED) == 2 and report.count(ERROR) == 1
    assert "Billing_Plans PlanKey=b: Stripe refused (InvalidRequestError)" in report.errors[0].error
    assert caspio.row("b")["SyncStatus"] == "error"
    assert "refused name" in caspio.row("b")["SyncError"]


def test_a_rerun_after_a_failed_write_back_creates_no_duplicates():
    caspio, stripe, catalog = make([plan_row("gold")])
    caspio.fail_updates_for.add("PlanKey = 'gold'")
    report = catalog.sync()
    assert report.count(ERROR) == 1
    assert "not written back to Caspio" in report.errors[0].error
    caspio.fail_updates_for.clear()
    report = catalog.sync()
    assert report.count(ERROR) == 0
    assert len(stripe.products) == 1 and len(stripe.prices) == 1
    assert caspio.row("gold")["StripePriceID"] == stripe.active_price("gold")["id"]


def test_a_run_that_died_after_creating_the_product_reuses_it():
    # The state a crash leaves: product in Stripe, no price, nothing written back.
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    (product_id,) = stripe.products
    stripe.prices.clear()
    stripe.replays = {k: v for k, v in stripe.replays.items() if not k.startswith("plan-price")}
    caspio.row("gold").update(StripeProductID="", StripePriceID="", SyncStatus="")
    catalog.sync()
    # The create carried the same idempotency key, so Stripe answered with the first product.
    assert list(stripe.products) == [product_id]
    assert caspio.row("gold")["StripeProductID"] == product_id
    assert stripe.active_price("gold")["product"] == product_id


def test_a_failed_price_create_keeps_the_product_for_the_next_run():
    caspio, stripe, catalog = make([plan_row("gold", Currency="zzz")])
    stripe.refuse_currencies.add("zzz")
    report = catalog.sync()
    assert report.count(ERROR) == 1
    (product_id,) = stripe.products
    assert caspio.row("gold")["StripeProductID"] == product_id
    assert caspio.row("gold")["SyncStatus"] == "error"
    caspio.row("gold")["Currency"] = "usd"
    assert catalog.sync().count(UPDATED) == 1
    assert list(stripe.products) == [product_id]
    assert caspio.row("gold")["SyncStatus"] == "synced"


def test_pay_plan_without_amount_gets_a_product_only():
    caspio, stripe, catalog = make(
        [plan_row("pp", PlanType="payplan", Amount=None, Balance=Decimal("100"), Installments=3)]
    )
    assert catalog.sync().count(CREATED) == 1
    assert stripe.prices == {}
    assert len(stripe.products) == 1
    assert caspio.row("pp")["StripePriceID"] is None or caspio.row("pp")["StripePriceID"] == ""
    assert caspio.row("pp")["StripeProductID"].startswith("prod_")


def test_pay_plan_with_amount_gets_the_installment_price():
    caspio, stripe, catalog = make(
        [plan_row("pp", PlanType="payplan", Amount=Decimal("30"), Balance=Decimal("100"))]
    )
    catalog.sync()
    assert stripe.active_price("pp")["unit_amount"] == 3000


def test_pay_plan_losing_its_amount_loses_its_price():
    caspio, stripe, catalog = make(
        [plan_row("pp", PlanType="payplan", Amount=Decimal("30"), Balance=Decimal("100"))]
    )
    catalog.sync()
    price = stripe.active_price("pp")
    caspio.row("pp").update(Amount=None, Installments=4)
    assert catalog.sync().count(ARCHIVED) == 1
    assert stripe.prices[price["id"]]["active"] is False
    assert caspio.row("pp")["StripePriceID"] is None


def test_product_deleted_in_stripe_is_recreated():
    caspio, stripe, catalog = make([plan_row("gold", Active=False)])
    caspio.row("gold").update(StripeProductID="prod_gone", Active=True)
    assert catalog.sync().count(CREATED) == 1
    assert caspio.row("gold")["StripeProductID"] != "prod_gone"


def test_a_row_without_a_key_is_reported_by_pk_id():
    caspio, stripe, catalog = make([plan_row("")])
    report = catalog.sync()
    assert report.errors[0].error == ("Billing_Plans PK_ID=1: PlanKey is blank")
    assert caspio.rows[0]["SyncStatus"] == "error"


def test_progress_callback_sees_every_plan():
    caspio, stripe, catalog = make([plan_row("a"), plan_row("b", Amount="x"), plan_row("c")])
    seen = []
    catalog.sync(on_result=seen.append)
    assert sorted(r.label for r in seen) == [
        "Billing_Plans PlanKey=a",
        "Billing_Plans PlanKey=b",
        "Billing_Plans PlanKey=c",
    ]


# ----------------------------------------------------------------- pure decisions

PLAN = Plan(plan_key="g", billing_interval="month", amount=Decimal("10"), active=True, name="G")
SPEC = PriceSpec(1000, "usd", "month", 1)
PRODUCT = LiveProduct("prod_1", "G", None, True, {"caspio_plan_key": "g"})


def test_actions_for_a_plan_in_step_with_stripe():
    actions = plan_actions(PLAN, LivePrice("price_1", "prod_1", SPEC, PRODUCT), PRODUCT)
    assert not actions.writes
    assert actions.keep_price == "price_1"


def test_actions_for_a_new_plan():
    actions = plan_actions(PLAN, None, None)
    assert actions.create_product and actions.create_price == SPEC and not actions.archive_price


def test_actions_for_a_tiered_price_replace_it():
    actions = plan_actions(PLAN, LivePrice("price_1", "prod_1", None, PRODUCT), PRODUCT)
    assert actions.create_price == SPEC and actions.archive_price == "price_1"


def test_specs():
    assert price_spec(PLAN) == SPEC
    assert price_spec(Plan(plan_key="g", billing_interval="month", amount=Decimal(1))) is None
    assert product_spec(PLAN).metadata == {"caspio_plan_key": "g", "tier": ""}


def test_odd_values_give_a_row_error_while_the_others_sync():
    caspio, stripe, catalog = make(
        [
            plan_row("a", Amount=19.99, IntervalCount=2.0, Currency=" USD ", Tier=None),
            plan_row("pp", PlanType="payplan", Amount=None, Balance=Decimal("100"), Installments=0),
            plan_row("blank", Amount="  ", BillingInterval=None),
            plan_row("c", Currency="", Description="   "),
        ]
    )
    report = catalog.sync()
    assert report.summary() == "created 2, updated 0, archived 0, unchanged 0, errors 2"
    assert stripe.active_price("a")["unit_amount"] == 1999
    assert stripe.active_price("a")["currency"] == "usd"
    assert stripe.active_price("c")["currency"] == "usd"
    assert caspio.row("pp")["SyncError"] == "Installments 0 is less than 1"
    assert caspio.row("blank")["SyncError"] == (
        "Amount is required for a subscription plan; BillingInterval is blank"
    )


def test_a_pay_plan_getting_its_amount_back_gets_a_live_price_not_a_replay():
    caspio, stripe, catalog = make(
        [plan_row("pp", PlanType="payplan", Amount=Decimal("30"), Balance=Decimal("100"))]
    )
    catalog.sync()
    first = stripe.active_price("pp")
    caspio.row("pp").update(Amount=None, Installments=4)
    catalog.sync()
    assert stripe.prices[first["id"]]["active"] is False
    # Same amount again, within Stripe's 24 h idempotency window.
    caspio.row("pp").update(Amount=Decimal("30"), Installments=None)
    assert catalog.sync().count(UPDATED) == 1
    again = stripe.active_price("pp")
    assert again["id"] != first["id"]
    assert caspio.row("pp")["StripePriceID"] == again["id"]
    assert caspio.row("pp")["SyncStatus"] == "synced"


def test_reactivating_a_plan_whose_price_id_was_cleared_gets_a_live_price():
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    first = stripe.active_price("gold")
    caspio.row("gold")["Active"] = False
    catalog.sync()
    # A builder copies the row back in / clears the written-back price id.
    caspio.row("gold").update(Active=True, StripePriceID="")
    catalog.sync()
    again = stripe.active_price("gold")
    assert again["id"] != first["id"] and again["product"] == first["product"]
    assert caspio.row("gold")["StripePriceID"] == again["id"]


def test_a_product_deleted_in_stripe_is_recreated_not_replayed():
    caspio, stripe, catalog = make(
        [plan_row("pp", PlanType="payplan", Amount=None, Balance=Decimal("100"), Installments=3)]
    )
    catalog.sync()
    (gone,) = stripe.products
    del stripe.products[gone]  # deleted by hand in the dashboard (it has no prices)
    assert catalog.sync().count(CREATED) == 1
    (product_id,) = stripe.products
    assert product_id != gone
    assert caspio.row("pp")["StripeProductID"] == product_id


def test_a_lookup_key_moved_by_hand_to_another_plans_price_is_taken_back():
    caspio, stripe, catalog = make([plan_row("gold"), plan_row("silver")])
    catalog.sync()
    gold, silver = stripe.active_price("gold"), stripe.active_price("silver")
    # By hand in Stripe: silver's price now carries gold's lookup key.
    stripe.prices[gold["id"]]["lookup_key"] = None
    stripe.prices[silver["id"]]["lookup_key"] = "gold"
    catalog.sync()
    silver_product = stripe.products[silver["product"]]
    assert silver_product["name"] == "Plan silver"
    assert silver_product["metadata"]["caspio_plan_key"] == "silver"
    new_gold = stripe.active_price("gold")
    assert new_gold["product"] == gold["product"]
    assert stripe.active_price("silver")["product"] == silver["product"]
    assert caspio.row("gold")["StripeProductID"] == gold["product"]
    assert caspio.row("silver")["StripeProductID"] == silver["product"]
    # settled: the next run writes nothing
    stripe.calls.clear()
    updates = len(caspio.updates)
    assert catalog.sync().count(UNCHANGED) == 2
    assert stripe.writes() == [] and len(caspio.updates) == updates


def test_a_copied_row_gets_its_own_product_instead_of_taking_over_the_original():
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    gold = caspio.row("gold")
    # A builder duplicates the row (written-back ids included) for a yearly plan.
    caspio.rows.append(
        {
            **gold,
            "PK_ID": 2,
            "PlanKey": "gold-yearly",
            "Name": "Gold yearly",
            "BillingInterval": "year",
        }
    )
    catalog.sync()
    product = stripe.products[gold["StripeProductID"]]
    assert product["name"] == "Plan gold"
    assert product["metadata"]["caspio_plan_key"] == "gold"
    yearly = caspio.row("gold-yearly")
    assert yearly["StripeProductID"] != gold["StripeProductID"]
    assert stripe.active_price("gold-yearly")["product"] == yearly["StripeProductID"]
    assert stripe.active_price("gold")["product"] == gold["StripeProductID"]
    stripe.calls.clear()
    assert catalog.sync().count(UNCHANGED) == 2
    assert stripe.writes() == []


def test_a_plan_key_containing_a_colon_keeps_its_reasons_intact():
    caspio, stripe, catalog = make([plan_row("gold: v2", BillingInterval="fortnight")])
    (error,) = catalog.sync().errors
    assert error.label == "Billing_Plans PlanKey=gold: v2"
    assert caspio.row("gold: v2")["SyncError"] == (
        "BillingInterval 'fortnight' is not one of day, week, month, year"
    )


def test_a_failed_write_back_names_the_plan_in_its_error_line():
    caspio, stripe, catalog = make([plan_row("gold"), plan_row("silver")])
    caspio.fail_updates_for.add("PlanKey = 'gold'")
    (error,) = catalog.sync().errors
    # sync-plans prints only this line: it must say which plan it is about.
    assert error.error.startswith("Billing_Plans PlanKey=gold: synced to Stripe but not")


def test_an_old_price_left_active_by_a_failed_archive_is_archived_by_the_next_run():
    caspio, stripe, catalog = make([plan_row("gold")])
    catalog.sync()
    old = stripe.active_price("gold")
    caspio.row("gold")["Amount"] = Decimal("12.50")
    stripe.refuse_price_updates.add(old["id"])  # the new price is made, the archive fails
    assert catalog.sync().count(ERROR) == 1
    assert stripe.prices[old["id"]]["active"] is True
    stripe.refuse_price_updates.clear()
    assert catalog.sync().count(UPDATED) == 1
    assert stripe.prices[old["id"]]["active"] is False
    assert caspio.row("gold")["StripePriceID"] == stripe.active_price("gold")["id"]
    assert caspio.row("gold")["SyncStatus"] == "synced"
    stripe.calls.clear()
    assert catalog.sync().count(UNCHANGED) == 1
    assert stripe.writes() == []


def test_a_copied_rows_price_id_never_archives_the_other_plans_price():
    caspio, stripe, catalog = make([plan_row("gold"), plan_row("silver")])
    catalog.sync()
    gold = stripe.active_price("gold")
    caspio.row("silver")["StripePriceID"] = gold["id"]  # pasted by hand
    catalog.sync()
    assert stripe.prices[gold["id"]]["active"] is True
    assert caspio.row("silver")["StripePriceID"] == stripe.active_price("silver")["id"]


def test_a_plan_key_with_a_control_character_is_a_row_error_not_a_crash():
    caspio, stripe, catalog = make([plan_row("gold\x00"), plan_row("ok")])
    report = catalog.sync()
    assert report.summary() == "created 1, updated 0, archived 0, unchanged 0, errors 1"
    assert "PlanKey contains a control character" in report.errors[0].error
    # No WHERE can carry a NUL, so the row is written back by its PK_ID.
    assert caspio.rows[0]["SyncStatus"] == "error"
