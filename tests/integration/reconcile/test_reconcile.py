"""Done-when of issue #15: webhooks lost and Caspio rows edited by hand; `reconcile
--dry-run` lists exactly those differences and changes nothing, `reconcile` repairs them,
and a second run finds none. Over both emulators, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from caspio_client import where as w
from connector.cli import main
from connector.store import caspio_rows
from connector.sync.inbox import DEAD, Inbox
from connector.sync.reconcile import Reconciler
from sandbox.stripe import flow_controls
from tests.integration.reconcile.bridge import Bridge, running_bridge, subscribe_customers

MONTH = 31 * 86400
CUSTOMERS = 4


@pytest.fixture
def bridge(store_url, fresh_caspio_emulator, stripe_emulator) -> Iterator[Bridge]:
    yield from running_bridge(store_url, fresh_caspio_emulator, stripe_emulator)


def reconciler(bridge: Bridge) -> Reconciler:
    return Reconciler(
        bridge.store,
        bridge.caspio,
        bridge.services.stripe,
        mapping=bridge.services.mapping,
        metrics=bridge.services.metrics,
    )


def memory_of(bridge: Bridge) -> list[tuple[str, str, str]]:
    c = caspio_rows.c
    with bridge.store.engine.connect() as conn:
        return [
            tuple(r)
            for r in conn.execute(
                sa.select(c.table_name, c.row_key, c.values_json).order_by(c.table_name, c.row_key)
            )
        ]


def caspio_writes(bridge: Bridge) -> int:
    return sum(
        n
        for (method, _t, _s), n in bridge.caspio.meter.snapshot().items()
        if method != "GET" and _t != "oauth"
    )


def test_lost_webhooks_and_hand_edits_are_listed_repaired_and_gone(bridge: Bridge):
    subs = subscribe_customers(bridge, CUSTOMERS)
    bridge.settle()
    for _ in range(3):  # three renewals each, delivered
        bridge.emulator.advance(MONTH)
        bridge.settle()
    paid_before = {p["InvoiceID"]: p for p in bridge.caspio.select("Billing_Payments")}
    assert len(paid_before) == 4 * CUSTOMERS

    # The outage: a month of renewals, a payout and a dispute reach Stripe's log only.
    bridge.dropper.active = True
    outage_start = bridge.emulator.emulator.now()
    bridge.emulator.advance(MONTH)
    em = bridge.emulator.emulator
    disputed_invoice = sorted(paid_before)[0]
    dispute = flow_controls.open_dispute(
        em, paid_before[disputed_invoice]["ChargeID"], reason="fraudulent", amount=2000
    )
    payout = flow_controls.create_payout(em, 50000, status="paid")
    assert bridge.emulator.wait_idle(30)
    bridge.dropper.active = False
    bridge.worker.run_until_idle()
    delivered, dropped = len(bridge.dropper.passed), len(bridge.dropper.dropped)
    print(f"webhooks: {delivered + dropped} sent, {dropped} dropped")
    assert 190 <= delivered + dropped <= 215 and 35 <= dropped <= 45  # about 40 of 200

    renewals = [
        inv.id
        for inv in bridge.stripe.v1.invoices.list({"created": {"gte": outage_start}, "limit": 100})
        if inv.status == "paid"
    ]
    assert len(renewals) == CUSTOMERS

    # Five rows edited by hand in Caspio.
    edited = sorted(set(paid_before) - {disputed_invoice})
    caspio = bridge.caspio
    caspio.update("Billing_Payments", w.eq("InvoiceID", edited[0]), {"Status": "failed"})
    caspio.update("Billing_Payments", w.eq("InvoiceID", edited[1]), {"Amount": 1})
    caspio.update("Billing_Payments", w.eq("InvoiceID", edited[2]), {"PaidAt": None})
    caspio.update(
        "Billing_Subscriptions", w.eq("SubscriptionKey", subs[0][1]), {"Status": "canceled"}
    )
    caspio.update("Billing_Customers", w.eq("CustomerKey", subs[1][0]), {"AvgMonthlyTotal": 999})

    expected_rows = (
        {("Billing_Payments", i) for i in renewals}
        | {("Billing_Subscriptions", s[1]) for s in subs}  # CurrentPeriodEnd moved
        | {("Billing_Payouts", payout["id"]), ("Billing_Disputes", dispute["id"])}
        | {("Billing_Payments", disputed_invoice)}  # its status becomes disputed
        | {("Billing_Payments", i) for i in edited[:3]}
        | {("Billing_Customers", subs[1][0])}
    )
    memory_before = memory_of(bridge)
    caspio.meter.reset()

    preview = reconciler(bridge).run(since=outage_start - 5 * MONTH, dry_run=True)
    assert preview.failures == []
    assert set(preview.rows) == expected_rows
    fields = {(d.table, d.key): set() for d in preview.differences}
    for d in preview.differences:
        fields[(d.table, d.key)].add(d.field)
    assert fields[("Billing_Payments", edited[0])] == {"Status"}
    assert fields[("Billing_Payments", edited[1])] == {"Amount"}
    assert fields[("Billing_Payments", edited[2])] == {"PaidAt"}
    assert fields[("Billing_Subscriptions", subs[0][1])] == {"Status", "CurrentPeriodEnd"}
    assert fields[("Billing_Subscriptions", subs[2][1])] == {"CurrentPeriodEnd"}
    assert fields[("Billing_Customers", subs[1][0])] == {"AvgMonthlyTotal"}
    assert fields[("Billing_Payments", disputed_invoice)] == {"Status"}
    assert all(d.missing_row for d in preview.differences if d.key in renewals)
    by_key = {(d.table, d.key, d.field): d for d in preview.differences}
    status = by_key[("Billing_Payments", edited[0], "Status")]
    assert (status.caspio, status.wanted) == ("failed", "succeeded")
    # The dry run wrote nothing: no Caspio write, the writer's memory untouched.
    assert caspio_writes(bridge) == 0
    assert memory_of(bridge) == memory_before

    # The command line: the same differences as a table, then the repair.
    runner = CliRunner()
    shown = runner.invoke(main, ["reconcile", "--dry-run", "--days", "400"], env=bridge.env)
    assert shown.exit_code == 0, shown.output
    assert (
        f"{len(preview.differences)} difference(s) in {len(expected_rows)} row(s)" in shown.output
    )
    for table, key in expected_rows:
        assert any(table in line and key in line for line in shown.output.splitlines())
    assert caspio_writes(bridge) == 0

    repaired = runner.invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert repaired.exit_code == 0, repaired.output
    assert f"repaired {len(expected_rows)}; 0 could not be repaired" in repaired.output

    for invoice_id in renewals:
        row = bridge.row("Billing_Payments", "InvoiceID", invoice_id)
        assert (row["Status"], row["Amount"]) == ("succeeded", 20)
    assert bridge.row("Billing_Payments", "InvoiceID", edited[0])["Status"] == "succeeded"
    assert bridge.row("Billing_Payments", "InvoiceID", edited[1])["Amount"] == 20
    assert bridge.row("Billing_Payments", "InvoiceID", edited[2])["PaidAt"]
    assert bridge.row("Billing_Payments", "InvoiceID", disputed_invoice)["Status"] == "disputed"
    assert bridge.row("Billing_Subscriptions", "SubscriptionKey", subs[0][1])["Status"] == "active"
    assert bridge.row("Billing_Customers", "CustomerKey", subs[1][0])["AvgMonthlyTotal"] == 20
    assert bridge.row("Billing_Payouts", "PayoutID", payout["id"])["Status"] == "paid"
    assert bridge.row("Billing_Disputes", "DisputeID", dispute["id"])["Status"]
    period_end = bridge.stripe.v1.subscriptions.retrieve(subs[2][2])["items"].data[0]
    assert (
        bridge.row("Billing_Subscriptions", "SubscriptionKey", subs[2][1])["CurrentPeriodEnd"]
        is not None
        and period_end.current_period_end
    )

    # A second run finds nothing and writes nothing.
    caspio.meter.reset()
    again = reconciler(bridge).run(since=outage_start - 5 * MONTH)
    assert (again.differences, again.failures, again.rows_written) == ([], [], 0)
    assert caspio_writes(bridge) == 0
    second = runner.invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert second.exit_code == 0 and "0 difference(s) in 0 row(s)" in second.output
    print(f"reconcile: {again.stripe_calls} Stripe and {again.caspio_calls} Caspio calls")
    assert Inbox(bridge.store).list(status=DEAD) == []


def test_an_object_that_cannot_be_repaired_exits_1(bridge: Bridge):
    subs = subscribe_customers(bridge, 1)
    bridge.settle()
    # The Caspio app's row is gone: the subscription cannot be written back.
    bridge.caspio.delete("Billing_Subscriptions", w.eq("SubscriptionKey", subs[0][1]))
    bridge.stripe.v1.subscriptions.update(subs[0][2], {"metadata": {"note": "changed"}})
    bridge.emulator.advance(MONTH)
    bridge.dropper.active = True
    assert bridge.emulator.wait_idle(30)
    result = CliRunner().invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert result.exit_code == 1, result.output
    assert f"could not repair {subs[0][2]}: MissingCaspioRow" in result.output
    assert "1 could not be repaired" in result.output
    dry = CliRunner().invoke(main, ["reconcile", "--dry-run", "--days", "400"], env=bridge.env)
    assert dry.exit_code == 1 and "MissingCaspioRow" in dry.output
    json.dumps(result.output)


def test_a_failed_payment_keeps_its_retry_link_and_a_lost_failure_gets_a_new_one(bridge: Bridge):
    ((_key, _sub_key, sub_id),) = subscribe_customers(bridge, 1)
    bridge.settle()
    customer = bridge.stripe.v1.subscriptions.retrieve(sub_id).customer
    failing = bridge.stripe.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", {"customer": customer}
    )
    bridge.stripe.v1.customers.update(
        customer, {"invoice_settings": {"default_payment_method": failing.id}}
    )
    bridge.emulator.advance(27 * 86400)
    failures: list[dict] = []
    for _day in range(6):  # a day at a time up to the renewal, which fails
        bridge.emulator.advance(86400)
        bridge.settle()
        failures = [p for p in bridge.caspio.select("Billing_Payments") if p["Status"] == "failed"]
        if failures:
            break
    (failed,) = failures
    assert failed["AttemptCount"] == 1
    link = failed["RetryURL"]
    assert link and failed["RetryStatus"] == "available"

    runner = CliRunner()
    first = runner.invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert first.exit_code == 0 and "0 difference(s)" in first.output, first.output
    assert bridge.row("Billing_Payments", "InvoiceID", failed["InvoiceID"])["RetryURL"] == link

    # The automatic retry fails too, and its webhook is lost: a new attempt, a new link.
    bridge.dropper.active = True
    bridge.emulator.advance(86400)  # the first automatic retry, a day later
    assert bridge.emulator.wait_idle(30)
    bridge.dropper.active = False
    shown = runner.invoke(main, ["reconcile", "--dry-run", "--days", "400"], env=bridge.env)
    assert shown.exit_code == 0, shown.output
    assert "AttemptCount" in shown.output and "RetryURL" in shown.output
    assert bridge.row("Billing_Payments", "InvoiceID", failed["InvoiceID"])["RetryURL"] == link
    repaired = runner.invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert repaired.exit_code == 0, repaired.output
    row = bridge.row("Billing_Payments", "InvoiceID", failed["InvoiceID"])
    assert row["AttemptCount"] == 2 and row["RetryURL"] not in (None, "", link)
    second = runner.invoke(main, ["reconcile", "--days", "400"], env=bridge.env)
    assert "0 difference(s)" in second.output, second.output
    assert (
        bridge.row("Billing_Payments", "InvoiceID", failed["InvoiceID"])["RetryURL"]
        == row["RetryURL"]
    )


def test_a_deleted_subscription_row_is_listed_and_exits_1(bridge: Bridge):
    # Nothing changed in Stripe: the writer's memory alone must not hide the missing row.
    subs = subscribe_customers(bridge, 1)
    bridge.settle()
    bridge.caspio.delete("Billing_Subscriptions", w.eq("SubscriptionKey", subs[0][1]))
    runner = CliRunner()
    for args in (["--dry-run"], [], ["--live"], ["--live-only", "--dry-run"]):
        result = runner.invoke(main, ["reconcile", "--days", "400", *args], env=bridge.env)
        assert result.exit_code == 1, (args, result.output)
        assert f"could not repair {subs[0][2]}: MissingCaspioRow" in result.output
    # The bridge never invents a subscription row.
    assert list(bridge.caspio.select("Billing_Subscriptions")) == []


def test_a_deleted_customer_row_is_listed_then_created(bridge: Bridge):
    ((customer_key, _sub_key, _sub_id),) = subscribe_customers(bridge, 1)
    bridge.settle()
    bridge.caspio.delete("Billing_Customers", w.eq("CustomerKey", customer_key))
    runner = CliRunner()
    preview = reconciler(bridge).run(since=None, live=True, dry_run=True)
    assert preview.rows == [("Billing_Customers", customer_key)]
    assert all(d.missing_row for d in preview.differences)
    assert list(bridge.caspio.select("Billing_Customers")) == []
    shown = runner.invoke(main, ["reconcile", "--dry-run", "--live"], env=bridge.env)
    assert shown.exit_code == 0, shown.output
    assert "1 row(s)" in shown.output and customer_key in shown.output
    repaired = runner.invoke(main, ["reconcile", "--live"], env=bridge.env)
    assert repaired.exit_code == 0, repaired.output
    row = bridge.row("Billing_Customers", "CustomerKey", customer_key)
    assert (row["ActiveSubscriptions"], row["Email"]) == (1, "c0@example.com")
    again = runner.invoke(main, ["reconcile", "--live"], env=bridge.env)
    assert again.exit_code == 0 and "0 difference(s) in 0 row(s)" in again.output
