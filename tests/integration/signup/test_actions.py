"""RequestedAction set by the app on a row: done in Stripe, written back, cleared."""

from __future__ import annotations

from decimal import Decimal

from click.testing import CliRunner

from caspio_client import where as w
from connector.billing.poller import Poller
from connector.billing.provisioning import Provisioner
from connector.cli import main

from .conftest import CASPIO_SECRET, Bridge
from .test_provisioning import _env


def _request(bridge: Bridge, key: str, action: str) -> None:
    """What the DataPage's action button does: set the field on the row."""
    affected = bridge.caspio.update(
        "Billing_Subscriptions", w.eq("SubscriptionKey", key), {"RequestedAction": action}
    )
    assert affected == 1


def _active(bridge: Bridge, customer_key: str, plan: str = "gold") -> str:
    key = bridge.register(customer_key, plan)
    bridge.sign_up_and_pay(key)
    assert bridge.row(key)["Status"] == "active"
    return key


def _money(value: object) -> Decimal:
    return Decimal(str(value))


def test_cancel_at_period_end_through_the_caspio_webhook(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = _active(bridge, "CUST-A1")
    bridge.caspio_emulator.emulator.configure_webhook(
        "Billing_Subscriptions",
        f"{bridge.url}/caspio/webhook",
        CASPIO_SECRET,
        ["table.recordInsert", "table.recordUpdate"],
    )
    _request(bridge, key, "cancel_at_period_end")
    bridge.settle()
    row = bridge.row(key)
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    assert sub.cancel_at_period_end is True and sub.status == "active"
    assert row["RequestedAction"] in (None, "") and row["LastError"] in (None, "")
    assert row["Status"] == "active" and row["AccessActive"] is True

    bridge.advance_to_renewal(sub.id)
    row = bridge.row(key)
    assert row["Status"] == "canceled" and row["AccessActive"] is False
    assert row["CanceledAt"]
    assert bridge.charged(sub.id) == [2500]
    (customer,) = bridge.customer_rows("CUST-A1")
    assert customer["ActiveSubscriptions"] == 0
    assert _money(customer["AvgMonthlyTotal"]) == 0


def test_cancel_now_through_polling(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = _active(bridge, "CUST-A2")
    _request(bridge, key, "cancel_now")
    Poller(Provisioner.from_services(bridge.services), 60).run_once()
    bridge.settle()
    row = bridge.row(key)
    assert bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"]).status == (
        "canceled"
    )
    assert (row["Status"], row["AccessActive"], row["RequestedAction"] or None) == (
        "canceled",
        False,
        None,
    )
    (customer,) = bridge.customer_rows("CUST-A2")
    assert customer["ActiveSubscriptions"] == 0


def test_change_plan_through_provision_flows_into_values_and_totals(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.plan("silver", "40.00")
    key = _active(bridge, "CUST-A3")
    _request(bridge, key, "change_plan:silver")
    result = CliRunner().invoke(main, ["provision"], env=_env(bridge))
    assert result.exit_code == 0, result.output
    assert "action done 1" in result.stdout
    bridge.settle()
    row = bridge.row(key)
    assert (row["PlanKey"], row["RequestedAction"] or None, row["Status"]) == (
        "silver",
        None,
        "active",
    )
    assert _money(row["MonthlyValue"]) == Decimal("40")
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    silver = bridge.stripe.v1.prices.list({"lookup_keys": ["silver"]}).data[0]
    assert [item.price.id for item in sub["items"].data] == [silver.id]
    assert sub.metadata["caspio_plan_key"] == "silver"
    (customer,) = bridge.customer_rows("CUST-A3")
    assert _money(customer["AvgMonthlyTotal"]) == Decimal("40")
    assert _money(customer["AvgYearlyTotal"]) == Decimal("480")
    bridge.advance_to_renewal(sub.id)
    assert bridge.charged(sub.id)[-1] == 4000


def test_a_request_that_cannot_be_done_is_cleared_with_a_last_error(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.plan("p30", "30.00", PlanType="payplan", Balance=Decimal("90"))
    key = _active(bridge, "CUST-A4")
    provisioner = Provisioner.from_services(bridge.services)
    for action, error in (
        ("pause_forever", "unknown action"),
        ("change_plan:nope", "plan 'nope' does not exist"),
        ("change_plan:p30", "is a pay plan"),
    ):
        _request(bridge, key, action)
        provisioner.run_pass()
        row = bridge.row(key)
        assert row["RequestedAction"] in (None, ""), action
        assert row["LastError"].startswith(f"RequestedAction {action}: ")
        assert error in row["LastError"]
        assert row["Status"] == "active" and row["PlanKey"] == "gold"
    # The same request twice in a row is done twice (the writer's memory must not skip
    # clearing it the second time).
    _request(bridge, key, "cancel_at_period_end")
    provisioner.run_pass()
    assert bridge.row(key)["RequestedAction"] in (None, "")


def test_cancel_at_period_end_of_a_scheduled_intro_releases_the_schedule(bridge: Bridge):
    bridge.plan("intro", "25.00", IntroAmount=Decimal("15.00"), IntroIntervals=2)
    key = _active(bridge, "CUST-A5", "intro")
    schedule_id = bridge.row(key)["StripeScheduleID"]
    _request(bridge, key, "cancel_at_period_end")
    Provisioner.from_services(bridge.services).run_pass()
    bridge.settle()
    assert bridge.stripe.v1.subscription_schedules.retrieve(schedule_id).status == "released"
    row = bridge.row(key)
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    assert sub.cancel_at_period_end is True
    assert row["RequestedAction"] in (None, "") and row["StripeScheduleID"] in (None, "")
    bridge.advance_to_renewal(sub.id)
    assert bridge.row(key)["Status"] == "canceled"
    assert bridge.charged(sub.id) == [1500]


def test_a_change_plan_through_the_caspio_webhook_is_done_once(bridge: Bridge):
    """Every write to the row fires Caspio's update webhook again; the request is cleared
    before the row is rewritten, so those deliveries find nothing left to do."""
    bridge.plan("gold", "25.00")
    bridge.plan("silver", "40.00")
    key = _active(bridge, "CUST-A6")
    bridge.caspio_emulator.emulator.configure_webhook(
        "Billing_Subscriptions",
        f"{bridge.url}/caspio/webhook",
        CASPIO_SECRET,
        ["table.recordInsert", "table.recordUpdate"],
    )
    bridge.services.stripe.meter.reset()
    _request(bridge, key, "change_plan:silver")
    bridge.settle()
    row = bridge.row(key)
    assert (row["PlanKey"], row["RequestedAction"] or None) == ("silver", None)
    assert _money(row["MonthlyValue"]) == Decimal("40")
    updates = {
        call: count
        for call, count in bridge.services.stripe.meter.snapshot().items()
        if call[0] == "POST" and call[1] == "/v1/subscriptions/{id}"
    }
    assert sum(updates.values()) == 1, updates
    deliveries = bridge.caspio_emulator.emulator.webhooks.deliveries()
    assert len(deliveries) >= 2 and all(d.delivered for d in deliveries)


class _DeliverDuringWrite:
    """The Caspio client, except that the first write to the row also delivers Caspio's
    update webhook for it at once, as a parallel delivery would: the row is processed again
    in the middle of the first request."""

    def __init__(self, caspio, key: str) -> None:
        self.caspio = caspio
        self.key = key
        self.provisioner: Provisioner | None = None
        self.nested: list[str] = []

    def __getattr__(self, name):
        return getattr(self.caspio, name)

    def update(self, table, where, values):
        affected = self.caspio.update(table, where, values)
        if table == "Billing_Subscriptions" and not self.nested and self.provisioner:
            self.nested.append("delivered")
            registration = self.provisioner.registration(self.key)
            assert registration is not None
            self.nested.append(self.provisioner.process(registration))
        return affected


def test_a_request_is_done_once_even_when_the_row_is_processed_again_meanwhile(bridge: Bridge):
    bridge.plan("gold", "25.00")
    bridge.plan("silver", "40.00")
    key = _active(bridge, "CUST-A7")
    _request(bridge, key, "change_plan:silver")
    caspio = _DeliverDuringWrite(bridge.caspio, key)
    services = bridge.services
    provisioner = Provisioner(
        caspio=caspio,
        gateway=services.stripe,
        store=services.store,
        mapping=services.mapping,
    )
    caspio.provisioner = provisioner
    services.stripe.meter.reset()
    registration = provisioner.registration(key)
    assert registration is not None
    assert provisioner.process(registration) == "action_done"
    assert caspio.nested == ["delivered", "skipped"]
    updates = sum(
        count
        for (method, path, _status), count in services.stripe.meter.snapshot().items()
        if method == "POST" and path == "/v1/subscriptions/{id}"
    )
    assert updates == 1
    bridge.settle()
    row = bridge.row(key)
    assert (row["PlanKey"], row["RequestedAction"] or None) == ("silver", None)


def test_cancel_at_period_end_shows_the_end_date_in_canceled_at_until_undone(bridge: Bridge):
    """PRODUCT contract: Status stays Stripe's (`active`), CanceledAt = Stripe's cancel_at."""
    import datetime as dt

    bridge.plan("gold", "25.00")
    key = _active(bridge, "CUST-A9")
    assert bridge.row(key)["CanceledAt"] in (None, "")
    _request(bridge, key, "cancel_at_period_end")
    Poller(Provisioner.from_services(bridge.services), 60).run_once()
    bridge.settle()
    row = bridge.row(key)
    assert row["RequestedAction"] in (None, "")
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    assert sub.cancel_at_period_end is True and sub.cancel_at
    assert row["Status"] == "active" and row["AccessActive"] is True
    shown = dt.datetime.fromisoformat(str(row["CanceledAt"])).replace(tzinfo=dt.timezone.utc)
    assert int(shown.timestamp()) == sub.cancel_at

    # Undone in Stripe (e.g. the customer portal): the pending end disappears from the row.
    bridge.stripe.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    bridge.settle()
    assert bridge.row(key)["CanceledAt"] in (None, "")
