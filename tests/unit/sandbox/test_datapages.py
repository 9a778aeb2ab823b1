"""The imitation DataPages on a bare Caspio emulator (no sandbox panel)."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from sandbox.caspio.app import CaspioEmulator
from sandbox.caspio.datapages import DataPages, money, plan_label


@pytest.fixture
def pages():
    emulator = CaspioEmulator()
    emulator.store.create_table("Billing_Subscriptions", [
        {"Name": "SubscriptionKey", "Type": "GUID", "Unique": True},
        {"Name": "CustomerKey", "Type": "STRING"}, {"Name": "PlanKey", "Type": "STRING"},
        {"Name": "Name", "Type": "STRING"}, {"Name": "Email", "Type": "STRING"},
        {"Name": "Status", "Type": "STRING"}, {"Name": "RequestedAction", "Type": "STRING"}])
    emulator.datapages = DataPages(emulator,
                                   app_parameters={"BRIDGE_PUBLIC_URL": "http://bridge:1"})
    yield emulator, Client(emulator)
    emulator.close()


def test_the_submission_form_inserts_the_row_and_goes_to_the_destination(pages):
    emulator, client = pages
    answer = client.post("/dp/register", data={
        "CustomerKey": "c1", "Name": "Ada", "Email": "a@example.com", "PlanKey": "gold"})
    assert answer.status_code == 303
    (row,) = emulator.store.select("Billing_Subscriptions", _all()).rows
    assert answer.headers["Location"] == f"http://bridge:1/signup/{row['SubscriptionKey']}"
    assert row["CustomerKey"] == "c1" and row["PlanKey"] == "gold"


def test_a_form_with_a_blank_field_inserts_nothing(pages):
    emulator, client = pages
    answer = client.post("/dp/register", data={"CustomerKey": "c1", "PlanKey": "gold"})
    assert answer.status_code == 400
    assert "Name, Email" in answer.get_data(as_text=True)
    assert emulator.store.count("Billing_Subscriptions") == 0


def test_an_action_sets_requested_action_and_returns_to_a_local_page_only(pages):
    emulator, client = pages
    row = emulator.store.insert("Billing_Subscriptions", {"CustomerKey": "c1"})
    key = row["SubscriptionKey"]
    answer = client.post(f"/dp/subscriptions/{key}/action",
                         data={"RequestedAction": "change_plan", "PlanKey": "platinum",
                               "next": "http://evil.example/"})
    assert answer.status_code == 303 and answer.headers["Location"] == "/dp/"
    (stored,) = emulator.store.select("Billing_Subscriptions", _all()).rows
    assert stored["RequestedAction"] == "change_plan:platinum"
    refused = client.post(f"/dp/subscriptions/{key}/action", data={"RequestedAction": "drop"})
    assert refused.status_code == 400


def test_without_a_sandbox_there_is_no_clock_and_no_scenario(pages):
    _, client = pages
    assert client.post("/dp/clock", data={"step": "day"}).status_code == 404
    assert client.post("/dp/customers/c1/card",
                       data={"payment_method": "pm_card_visa"}).status_code == 404
    assert client.get("/dp/scenarios").get_json() == []
    assert "Stripe clock" not in client.get("/dp/").get_data(as_text=True)


def test_the_rest_api_is_still_the_emulators(pages):
    _, client = pages
    assert client.get("/rest/v2/tables").status_code == 401


def test_money_prints_two_decimals_except_for_zero_decimal_currencies():
    assert money(1560, "usd") == "1,560.00 USD"
    assert money(1500, "jpy") == "1,500 JPY"
    assert money(None) == ""


def _all():
    from sandbox.caspio.query_params import parse_record_query

    return parse_record_query({}, "v3")


def test_plan_labels_name_the_price_and_period_or_the_installments():
    assert plan_label({"Name": "Gold", "Amount": 40, "Currency": "usd",
                       "BillingInterval": "month", "IntervalCount": 1}) == "Gold: 40.00 USD / month"
    assert plan_label({"Name": "Gold", "Amount": 40, "BillingInterval": "week",
                       "IntervalCount": 2}) == "Gold: 40.00 USD / 2 weeks"
    assert plan_label({"Name": "Course", "PlanType": "payplan", "Balance": 300,
                       "Installments": 3}) == "Course: 300.00 USD in 3 payments"


class _CardPanel:
    """Only what the Switch-card form needs from the sandbox panel."""

    def __init__(self) -> None:
        self.switched: list[tuple[str, str]] = []

    def switch_card(self, customer_key: str, payment_method: str) -> None:
        self.switched.append((customer_key, payment_method))


@pytest.mark.parametrize("key", ["x2'\"<script>alert(2)</script>", "/lead", "a//b", "50% ?#",
                                 "clé 日本"])
def test_switch_card_works_for_a_customer_key_holding_a_slash(pages, key):
    from jinja2.filters import do_urlencode

    emulator, client = pages
    panel = _CardPanel()
    emulator.datapages.panel = panel
    # The action as customers.html writes it (`{{ row.CustomerKey|urlencode }}`).
    answer = client.post(f"/dp/customers/{do_urlencode(key)}/card",
                         data={"payment_method": "pm_card_visa"})
    assert answer.status_code == 303, answer.get_data(as_text=True)[:200]
    assert panel.switched == [(key, "pm_card_visa")]
