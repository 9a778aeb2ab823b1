import datetime as dt
from decimal import Decimal

import pytest

from connector.billing.plans import (
    MAX_INTERVAL_COUNT,
    Plan,
    PlanRowError,
    plan_from_row,
    plan_to_row,
)
from mappings import load_mapping

MAPPING = load_mapping()


def row(**values):
    base = {
        "PK_ID": 1,
        "PlanKey": "gold-monthly",
        "Name": "Gold",
        "Amount": Decimal("19.99"),
        "BillingInterval": "month",
        "Active": True,
    }
    base.update(values)
    return base


def error_of(values, mapping=MAPPING):
    with pytest.raises(PlanRowError) as caught:
        plan_from_row(values, mapping)
    return str(caught.value)


def test_a_plain_row_becomes_a_plan_with_defaults():
    plan = plan_from_row(row(Currency="", IntervalCount=None, PlanType=""), MAPPING)
    assert plan == Plan(
        plan_key="gold-monthly",
        name="Gold",
        amount=Decimal("19.99"),
        billing_interval="month",
        active=True,
        currency="usd",
        interval_count=1,
        plan_type="subscription",
    )
    assert plan.unit_amount == 1999
    assert plan.product_name == "Gold"


def test_the_issue_example_message():
    assert error_of(row(BillingInterval="fortnight")) == (
        "Billing_Plans PlanKey=gold-monthly: BillingInterval 'fortnight' is not one of "
        "day, week, month, year"
    )


def test_words_are_matched_case_insensitively_and_values_normalised():
    plan = plan_from_row(
        row(BillingInterval="Year", PlanType="SUBSCRIPTION", Currency=" JPY ", Amount=500),
        MAPPING,
    )
    assert (plan.billing_interval, plan.plan_type, plan.currency) == ("year", "subscription", "jpy")
    assert plan.unit_amount == 500


def test_floats_from_a_json_client_keep_their_exact_digits():
    plan = plan_from_row(row(Amount=19.99), MAPPING)
    assert plan.amount == Decimal("19.99")


@pytest.mark.parametrize(("interval", "limit"), sorted(MAX_INTERVAL_COUNT.items()))
def test_stripe_interval_limits(interval, limit):
    assert plan_from_row(row(BillingInterval=interval, IntervalCount=limit), MAPPING)
    message = error_of(row(BillingInterval=interval, IntervalCount=limit + 1))
    assert f"IntervalCount {limit + 1} is more than Stripe allows for {interval}" in message


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"Amount": Decimal("19.999")}, "Amount 19.999 has too many decimals for usd"),
        ({"Amount": Decimal("500.5"), "Currency": "jpy"}, "Amount 500.5 has too many decimals"),
        ({"Amount": Decimal("5.125"), "Currency": "kwd"}, "Amount 5.125 has too many decimals"),
        ({"Amount": Decimal("-1")}, "Amount -1 is negative"),
        ({"Amount": "abc"}, "Amount 'abc' is not a number"),
        ({"Amount": None}, "Amount is required for a subscription plan"),
        ({"Currency": "dollars"}, "Currency 'dollars' is not a three-letter ISO code"),
        ({"IntervalCount": 0}, "IntervalCount 0 is less than 1"),
        ({"IntervalCount": Decimal("1.5")}, "IntervalCount Decimal('1.5') is not a whole number"),
        ({"PlanType": "lifetime"}, "PlanType 'lifetime' is not one of subscription, payplan"),
        ({"BillingInterval": ""}, "BillingInterval is blank"),
        ({"Balance": 100}, "Balance is only used by pay plans"),
        ({"Installments": 3}, "Installments is only used by pay plans"),
        ({"IntroAmount": 5}, "IntroIntervals is required when IntroAmount is set"),
        ({"IntroIntervals": 2}, "IntroAmount is required when IntroIntervals is set"),
        ({"Active": "maybe"}, "Active 'maybe' is not yes or no"),
        ({"PlanKey": " gold"}, "PlanKey ' gold' starts or ends with a space"),
        ({"PlanKey": "x" * 201}, "PlanKey is longer than 200 characters"),
    ],
)
def test_row_errors_a_builder_can_act_on(values, expected):
    message = error_of(row(**values))
    assert expected in message
    assert message.startswith("Billing_Plans PlanKey=")


def test_several_problems_in_one_line_in_field_order():
    message = error_of(row(Amount="abc", BillingInterval="fortnight", IntervalCount=0))
    assert message == (
        "Billing_Plans PlanKey=gold-monthly: Amount 'abc' is not a number; "
        "BillingInterval 'fortnight' is not one of day, week, month, year; "
        "IntervalCount 0 is less than 1"
    )


def test_a_row_without_key_is_named_by_pk_id():
    message = error_of(row(PlanKey="", PK_ID=12))
    assert message == "Billing_Plans PK_ID=12: PlanKey is blank"


def test_pay_plans():
    with_amount = plan_from_row(
        row(PlanType="payplan", Balance=Decimal("100"), Amount=Decimal("30")), MAPPING
    )
    assert with_amount.is_payplan
    assert with_amount.unit_amount == 3000
    by_count = plan_from_row(
        row(PlanType="payplan", Balance=100, Amount=None, Installments=3), MAPPING
    )
    assert (by_count.amount, by_count.installments) == (None, 3)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"Balance": None}, "Balance is required for a pay plan"),
        ({"Balance": 0}, "Balance must be more than 0"),
        ({"Amount": None}, "Amount or Installments is required for a pay plan"),
        ({"Amount": 0}, "Amount must be more than 0 for a pay plan"),
        (
            {"Amount": None, "Installments": 5, "Balance": Decimal("0.03")},
            "Installments 5 is more than Balance 0.03 can be split into",
        ),
    ],
)
def test_pay_plan_errors(values, expected):
    base = {"PlanType": "payplan", "Balance": Decimal("100"), "Amount": Decimal("30")}
    assert expected in error_of(row(**{**base, **values}))


def test_messages_use_the_builders_names(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "tables: {Billing_Plans: {name: Plans, fields: {PlanKey: Code, BillingInterval: Every}}}"
    )
    mapping = load_mapping(path)
    caspio_row = {"Code": "g", "Amount": 1, "Every": "fortnight", "Active": True}
    assert error_of(caspio_row, mapping) == (
        "Plans Code=g: Every 'fortnight' is not one of day, week, month, year"
    )


def test_synced_at_and_the_row_written_back():
    plan = plan_from_row(
        row(SyncedAt="2026-11-21T20:00:00", SyncStatus="synced", StripePriceID="price_1"), MAPPING
    )
    assert plan.synced_at == dt.datetime(2026, 11, 21, 20, 0, tzinfo=dt.timezone.utc)
    written = plan_to_row(plan, MAPPING, only=("StripePriceID", "SyncStatus", "SyncedAt"))
    assert written == {
        "StripePriceID": "price_1",
        "SyncStatus": "synced",
        "SyncedAt": "2026-11-21T20:00:00",
    }


def test_unknown_sync_status_is_ignored_so_the_next_sync_overwrites_it():
    assert plan_from_row(row(SyncStatus="weird"), MAPPING).sync_status is None


def test_round_trip_through_the_row_schema():
    plan = plan_from_row(row(Tier="Gold", IntroAmount=Decimal("9.99"), IntroIntervals=3), MAPPING)
    again = plan_from_row({**plan_to_row(plan, MAPPING), "PK_ID": 1}, MAPPING)
    assert again == plan


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"Amount": None, "Installments": 0}, "Installments 0 is less than 1"),
        ({"Amount": None, "Installments": "three"}, "Installments 'three' is not a whole number"),
        ({"Amount": "abc"}, "Amount 'abc' is not a number"),
        ({"Amount": Decimal("-1")}, "Amount -1 is negative"),
        ({"Amount": "abc", "Installments": None}, "Amount 'abc' is not a number"),
    ],
)
def test_pay_plan_with_a_bad_amount_or_installments_is_a_row_error_not_a_crash(values, expected):
    # These used to raise KeyError/TypeError out of the schema and stop the whole sync.
    base = {"PlanType": "payplan", "Balance": Decimal("100"), "Amount": None, "Installments": 3}
    assert expected in error_of(row(**{**base, **values}))
