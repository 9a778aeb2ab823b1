"""`caspio-stripe sandbox trigger`: each scenario file makes its situation happen, and the
bridge writes the outcome into the sandbox's Caspio tables."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from click.testing import CliRunner

from caspio_client import where as w
from connector.cli import main
from sandbox.launcher.scenarios import ScenarioBook, ScenarioError, parse

ALL = {"renewal-paid", "renewal-failed", "refund", "dispute", "payout", "plan-change"}


def payments_of(sandbox, customer_key):
    rows = sandbox.services.caspio.select(
        "Billing_Payments", where=w.eq("CustomerKey", customer_key), order_by="PK_ID")
    return list(rows)


def subscriber(summary: str) -> str:
    return summary.split(": ", 1)[1].split(" ", 1)[0]


def test_the_book_holds_the_six_situations_of_the_issue():
    assert set(ScenarioBook.load().scenarios) == ALL


def test_trigger_list_prints_every_scenario_with_its_description():
    result = CliRunner().invoke(main, ["sandbox", "trigger", "--list"])
    assert result.exit_code == 0, result.output
    names = {line.split()[0] for line in result.output.splitlines()}
    assert names == ALL
    assert "expired" in result.output


def test_trigger_without_a_running_sandbox_says_how_to_start_one(tmp_path):
    result = CliRunner().invoke(main, ["sandbox", "trigger", "refund",
                                       "--data-dir", str(tmp_path)])
    assert result.exit_code == 1
    assert "caspio-stripe sandbox" in result.stderr


def test_an_unknown_scenario_is_refused_with_the_way_to_list_them(tmp_path):
    result = CliRunner().invoke(main, ["sandbox", "trigger", "nope", "--data-dir",
                                       str(tmp_path)])
    assert result.exit_code == 2
    assert "--list" in result.stderr


@pytest.mark.parametrize("text, problem", [
    ("steps: [{subscribe: {plan: gold-monthly}}, {teleport: 1}]", "unknown step 'teleport'"),
    ("description: x", "list of 'steps'"),
    ("steps: [{card: a, advance: renewal}]", "one key"),
    ("steps: [", "not YAML"),
])
def test_a_malformed_scenario_file_names_its_problem(text, problem):
    with pytest.raises(ScenarioError, match=problem):
        parse("broken", text)


def test_a_step_needing_a_subscriber_says_so(running_sandbox):
    book = ScenarioBook({"x": parse("x", "steps: [{refund: {}}]")})
    with pytest.raises(ScenarioError, match="subscribe"):
        book.run("x", running_sandbox)


def test_renewal_paid_writes_a_second_succeeded_payment(running_sandbox):
    summary = running_sandbox.run_scenario("renewal-paid")
    rows = payments_of(running_sandbox, subscriber(summary))
    assert [r["Status"] for r in rows] == ["succeeded", "succeeded"]
    assert [r["BillingReason"] for r in rows] == ["subscription_create", "subscription_cycle"]
    assert all(r["Amount"] == Decimal("40") for r in rows)


def test_renewal_failed_leaves_a_failed_payment_and_a_past_due_subscription(running_sandbox):
    summary = running_sandbox.run_scenario("renewal-failed")
    key = subscriber(summary)
    rows = payments_of(running_sandbox, key)
    assert [r["Status"] for r in rows] == ["succeeded", "failed"]
    assert rows[1]["FailureCode"] == "expired_card"
    sub = running_sandbox.services.caspio.get_one("Billing_Subscriptions",
                                                  w.eq("CustomerKey", key))
    assert sub["Status"] == "past_due"


def test_refund_in_two_parts_ends_refunded(running_sandbox):
    summary = running_sandbox.run_scenario("refund")
    (row,) = payments_of(running_sandbox, subscriber(summary))
    assert row["Status"] == "refunded"
    assert row["RefundedAmount"] == Decimal("20")


def test_dispute_marks_the_payment_and_writes_the_dispute(running_sandbox):
    summary = running_sandbox.run_scenario("dispute")
    (row,) = payments_of(running_sandbox, subscriber(summary))
    assert row["Status"] == "disputed"
    dispute = running_sandbox.services.caspio.get_one(
        "Billing_Disputes", w.eq("InvoiceID", row["InvoiceID"]))
    assert dispute["Reason"] == "fraudulent"


def test_payout_writes_a_payout_row(running_sandbox):
    summary = running_sandbox.run_scenario("payout")
    payout_id = re.search(r"po_\w+", summary).group(0)
    row = running_sandbox.services.caspio.get_one("Billing_Payouts",
                                                  w.eq("PayoutID", payout_id))
    assert row["Status"] == "paid" and row["Amount"] == Decimal("125")


def test_plan_change_charges_the_new_price_at_the_renewal(running_sandbox):
    summary = running_sandbox.run_scenario("plan-change")
    rows = payments_of(running_sandbox, subscriber(summary))
    assert [r["Amount"] for r in rows] == [Decimal("20"), Decimal("100")]
    assert rows[1]["Status"] == "succeeded"
