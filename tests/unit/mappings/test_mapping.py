import re
from pathlib import Path

import pytest

from mappings import CASPIO_TYPES, DEFAULT_PATH, MappingError, load_mapping

# Every table and field named in PRODUCT.md, in its order.
PRODUCT_TABLES = {
    "Billing_Plans": (
        "PlanKey Name Tier Description Amount Currency BillingInterval IntervalCount PlanType "
        "Balance Installments IntroAmount IntroIntervals Active StripeProductID StripePriceID "
        "SyncStatus SyncError SyncedAt"
    ),
    "Billing_Customers": (
        "CustomerKey Email Name StripeCustomerID AvgMonthlyTotal AvgYearlyTotal TotalsCurrency "
        "ActiveSubscriptions PortalURL UpdatedAt"
    ),
    "Billing_Subscriptions": (
        "SubscriptionKey CustomerKey PlanKey Email Name InitialBillingEnd InitialAmount "
        "RequestedAction Status "
        "AccessActive StripeSubscriptionID StripeScheduleID CheckoutURL StartedAt "
        "CurrentPeriodEnd CanceledAt BalanceRemaining InstallmentsPaid MonthlyValue YearlyValue "
        "LastError UpdatedAt"
    ),
    "Billing_Payments": (
        "InvoiceID SubscriptionKey CustomerKey StripeSubscriptionID PaymentIntentID ChargeID "
        "Amount Currency Status BillingReason AttemptCount NextAttemptAt FailureCode "
        "FailureMessage HostedInvoiceURL RetryURL RetryStatus PaidAt FailedAt RefundedAmount "
        "UpdatedAt"
    ),
    "Billing_Payouts": (
        "PayoutID Amount Currency Status ArrivalDate FailureCode FailureMessage UpdatedAt"
    ),
    "Billing_Disputes": (
        "DisputeID ChargeID InvoiceID Amount Currency Reason Status EvidenceDueBy UpdatedAt"
    ),
}
UNIQUE_KEYS = {
    "Billing_Plans": "PlanKey",
    "Billing_Customers": "CustomerKey",
    "Billing_Subscriptions": "SubscriptionKey",
    "Billing_Payments": "InvoiceID",
    "Billing_Payouts": "PayoutID",
    "Billing_Disputes": "DisputeID",
}


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_mapping_has_every_table_and_field_of_the_product_contract():
    mapping = load_mapping()
    assert list(mapping.tables) == list(PRODUCT_TABLES)
    for logical_table, names in PRODUCT_TABLES.items():
        table = mapping.tables[logical_table]
        assert table.name == logical_table
        assert list(table.fields) == names.split()
        assert all(f.name == f.logical for f in table.fields.values())
        assert all(f.type in CASPIO_TYPES for f in table.fields.values())


def test_unique_keys_and_their_types():
    mapping = load_mapping()
    for logical_table, key in UNIQUE_KEYS.items():
        table = mapping.tables[logical_table]
        assert table.key.logical == key
        assert [f.logical for f in table.fields.values() if f.unique] == [key]
    assert mapping.field_def("Billing_Subscriptions", "SubscriptionKey").type == "GUID"


def test_written_back_fields_of_plans():
    plans = load_mapping().tables["Billing_Plans"]
    written = [f.logical for f in plans.fields.values() if f.written_back]
    assert written == ["StripeProductID", "StripePriceID", "SyncStatus", "SyncError", "SyncedAt"]


def test_types_follow_the_product_contract():
    mapping = load_mapping()
    assert mapping.field_def("Billing_Plans", "Amount").type == "CURRENCY"
    assert mapping.field_def("Billing_Plans", "IntervalCount").type == "INTEGER"
    assert mapping.field_def("Billing_Plans", "Active").type == "YES/NO"
    assert mapping.field_def("Billing_Plans", "SyncedAt").type == "DATE/TIME"
    assert mapping.field_def("Billing_Subscriptions", "AccessActive").type == "YES/NO"
    assert mapping.field_def("Billing_Plans", "BillingInterval").values == (
        "day",
        "week",
        "month",
        "year",
    )


def test_renaming_file_changes_only_the_names_it_gives(tmp_path):
    path = write(
        tmp_path,
        """
tables:
  Billing_Plans:
    name: Membership_Plans
    fields:
      PlanKey: Plan_Code
      Amount: {name: Price}
""",
    )
    mapping = load_mapping(path)
    assert mapping.table("Billing_Plans") == "Membership_Plans"
    assert mapping.field("Billing_Plans", "PlanKey") == "Plan_Code"
    assert mapping.field("Billing_Plans", "Amount") == "Price"
    assert mapping.field("Billing_Plans", "Currency") == "Currency"
    assert mapping.field_def("Billing_Plans", "Amount").type == "CURRENCY"
    assert mapping.table("Billing_Customers") == "Billing_Customers"
    assert mapping.source == str(path)


def test_a_copy_of_the_default_file_is_a_valid_renaming_file(tmp_path):
    text = DEFAULT_PATH.read_text(encoding="utf-8").replace(
        "  Billing_Payouts:\n    name: Billing_Payouts", "  Billing_Payouts:\n    name: Payouts"
    )
    mapping = load_mapping(write(tmp_path, text))
    assert mapping.table("Billing_Payouts") == "Payouts"
    assert mapping.tables["Billing_Plans"] == load_mapping().tables["Billing_Plans"]


def test_to_and_from_caspio_rename_rows(tmp_path):
    mapping = load_mapping(
        write(tmp_path, "tables: {Billing_Plans: {fields: {PlanKey: Plan_Code, Name: Title}}}")
    )
    assert mapping.to_caspio("Billing_Plans", {"PlanKey": "gold", "Name": "Gold"}) == {
        "Plan_Code": "gold",
        "Title": "Gold",
    }
    row = {"PK_ID": 7, "Plan_Code": "gold", "Title": "Gold", "BuilderExtra": 1, "amount": 5}
    # Unknown columns (PK_ID, the builder's own) are dropped; names match case-insensitively.
    assert mapping.from_caspio("Billing_Plans", row) == {
        "PlanKey": "gold",
        "Name": "Gold",
        "Amount": 5,
    }


def test_swapped_names_do_not_mix_up_values(tmp_path):
    mapping = load_mapping(
        write(tmp_path, "tables: {Billing_Plans: {fields: {Name: Description, Description: Name}}}")
    )
    row = {"Name": "long text", "Description": "Gold"}
    assert mapping.from_caspio("Billing_Plans", row) == {"Name": "Gold", "Description": "long text"}


def test_unknown_logical_names_raise():
    mapping = load_mapping()
    with pytest.raises(KeyError, match="Billing_Plan"):
        mapping.table("Billing_Plan")
    with pytest.raises(KeyError, match="Amont"):
        mapping.to_caspio("Billing_Plans", {"Amont": 1})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tables: {Billing_Plan: {name: X}}", "tables.Billing_Plan: unknown table"),
        (
            "tables: {Billing_Plans: {fields: {Amont: Price}}}",
            "tables.Billing_Plans.fields.Amont: unknown field",
        ),
        (
            "tables: {Billing_Plans: {fields: {Amount: {nmae: Price}}}}",
            "tables.Billing_Plans.fields.Amount.nmae: Unknown field",
        ),
        (
            "tables: {Billing_Plans: {fields: {Amount: {name: Price, type: NUMBER}}}}",
            "tables.Billing_Plans.fields.Amount.type: only names can be changed",
        ),
        (
            "tables: {Billing_Plans: {fields: {Amount: 9lives}}}",
            "tables.Billing_Plans.fields.Amount.name: '9lives' is not a valid Caspio field name",
        ),
        (
            "tables: {Billing_Plans: {name: 'My Plans'}}",
            "tables.Billing_Plans.name: 'My Plans' is not a valid Caspio table name",
        ),
        (
            "tables: {Billing_Plans: {fields: {Amount: Name}}}",
            "tables.Billing_Plans.fields.Amount: 'Name' is already used by Name",
        ),
        (
            "tables: {Billing_Payouts: {name: billing_plans}}",
            "tables.Billing_Payouts.name: 'billing_plans' is already used by Billing_Plans",
        ),
        ("tabels: {}", "tabels: Unknown field"),
        ("tables: [1, 2]", "tables: Not a valid mapping type"),
        ("- just\n- a list", "expected a mapping with a 'tables' key"),
        ("tables:\n  Billing_Plans: {name: A}\n  Billing_Plans: {name: B}\n", "given twice"),
        ("tables: {Billing_Plans: {name: [unclosed}", "not valid YAML"),
    ],
)
def test_bad_mapping_files_name_the_offending_key(tmp_path, text, expected):
    path = write(tmp_path, text)
    with pytest.raises(MappingError) as caught:
        load_mapping(path)
    message = str(caught.value)
    assert message.startswith(f"mapping file {path}: ")
    assert expected in message
    assert "\n" not in message


def test_missing_file_is_a_mapping_error(tmp_path):
    with pytest.raises(MappingError, match=re.escape(str(tmp_path / "nope.yaml"))):
        load_mapping(tmp_path / "nope.yaml")


def test_empty_renaming_file_gives_the_default(tmp_path):
    assert load_mapping(write(tmp_path, "")).tables == load_mapping().tables


def test_caspio_definitions_follow_the_field_model():
    table = load_mapping().tables["Billing_Subscriptions"]
    definition = table.caspio_definition()
    assert set(definition) == {"Name", "Fields"}
    first = definition["Fields"][0]
    assert first["Name"] == "SubscriptionKey"
    assert first["Type"] == "GUID"
    assert first["Unique"] is True
    for field_model in definition["Fields"]:
        assert set(field_model) <= {"Name", "Type", "Unique", "Description"}
        assert len(field_model.get("Description", "")) <= 4000
