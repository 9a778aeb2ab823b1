"""Emulator time: renewals, automatic retries, dunning outcomes and incomplete expiry."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
import stripe

from sandbox.stripe import run_emulator
from sandbox.stripe.periods import boundary

from .conftest import DAY, customer_with_card, monthly_price, subscribe


def _ts(*args: int) -> int:
    return int(datetime(*args, tzinfo=timezone.utc).timestamp())


def test_month_periods_keep_the_anchor_day() -> None:
    anchor = _ts(2027, 1, 31, 12)
    starts = [boundary(anchor, "month", 1, k) for k in range(4)]
    assert starts == [anchor, _ts(2027, 2, 28, 12), _ts(2027, 3, 31, 12), _ts(2027, 4, 30, 12)]
    assert boundary(anchor, "year", 1, 1) == _ts(2028, 1, 31, 12)
    assert boundary(anchor, "week", 2, 1) == anchor + 14 * DAY
    assert boundary(anchor, "day", 3, 2) == anchor + 6 * DAY


def test_advance_moves_only_emulator_time(stripe_emulator) -> None:
    before = stripe_emulator.now()
    assert stripe_emulator.advance(3600) == before + 3600
    assert stripe_emulator.now() == before + 3600
    with pytest.raises(ValueError):
        stripe_emulator.advance(-1)


def test_several_renewals_in_one_advance(
    stripe_emulator, stripe_client: stripe.StripeClient
) -> None:
    price = monthly_price(stripe_client, 700)
    customer = customer_with_card(stripe_client)
    sub = subscribe(stripe_client, customer, price)

    stripe_emulator.advance(95 * DAY)

    invoices = stripe_client.v1.invoices.list({"subscription": sub.id}).data
    assert [i.billing_reason for i in invoices] == ["subscription_cycle"] * 3 + [
        "subscription_create"
    ]
    assert all(i.status == "paid" and i.amount_paid == 700 for i in invoices)
    periods = [
        (i.lines.data[0].period.start, i.lines.data[0].period.end) for i in reversed(invoices)
    ]
    assert all(a[1] == b[0] for a, b in zip(periods, periods[1:]))  # back to back


def _failing_renewal(stripe_emulator, client: stripe.StripeClient):
    price = monthly_price(client)
    customer = customer_with_card(client)
    sub = subscribe(client, customer, price)
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", {"customer": customer.id}
    )
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": failing.id}}
    )
    stripe_emulator.advance(sub["items"].data[0].current_period_end - stripe_emulator.now())
    return client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})


def test_retries_follow_the_schedule_then_cancel(
    stripe_emulator, stripe_client: stripe.StripeClient
) -> None:
    sub = _failing_renewal(stripe_emulator, stripe_client)
    invoice = sub.latest_invoice
    assert sub.status == "past_due"
    start = invoice.created

    seen = []
    for _ in range(3):
        stripe_emulator.advance(
            stripe_client.v1.invoices.retrieve(invoice.id).next_payment_attempt
            - stripe_emulator.now()
        )
        current = stripe_client.v1.invoices.retrieve(invoice.id)
        seen.append((current.attempt_count, current.next_payment_attempt))
    assert seen == [(2, start + 4 * DAY), (3, start + 9 * DAY), (4, None)]

    sub = stripe_client.v1.subscriptions.retrieve(sub.id)
    assert sub.status == "canceled"
    assert sub.cancellation_details.reason == "payment_failed"
    failed = stripe_client.v1.events.list({"type": "invoice.payment_failed"}).data
    assert [e.data.object.attempt_count for e in failed] == [4, 3, 2, 1]


@pytest.mark.parametrize("outcome", ["unpaid", "past_due"])
def test_after_retries_setting(outcome: str) -> None:
    with run_emulator(after_retries=outcome, retry_schedule=(DAY,)) as handle:
        client = stripe.StripeClient(
            handle.api_key, base_addresses={"api": handle.base_url}, max_network_retries=0
        )
        sub = _failing_renewal(handle, client)
        handle.advance(2 * DAY)
        sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
        assert sub.status == outcome
        assert sub.latest_invoice.next_payment_attempt is None
        assert sub.latest_invoice.attempt_count == 2


def test_unpaid_subscription_recovers_when_paid() -> None:
    with run_emulator(after_retries="unpaid", retry_schedule=()) as handle:
        client = stripe.StripeClient(
            handle.api_key, base_addresses={"api": handle.base_url}, max_network_retries=0
        )
        sub = _failing_renewal(handle, client)
        assert sub.status == "unpaid"
        handle.advance(31 * DAY)  # the next invoice is made but not attempted
        sub = client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
        assert sub.latest_invoice.attempt_count == 0 and sub.latest_invoice.status == "open"
        good = client.v1.payment_methods.attach("pm_card_visa", {"customer": sub.customer})
        client.v1.invoices.pay(sub.latest_invoice.id, {"payment_method": good.id})
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"


def test_incomplete_expires_after_23_hours(
    stripe_emulator, stripe_client: stripe.StripeClient
) -> None:
    price = monthly_price(stripe_client)
    customer = customer_with_card(stripe_client, "pm_card_chargeDeclined")
    sub = subscribe(stripe_client, customer, price)
    assert sub.status == "incomplete"

    stripe_emulator.advance(23 * 3600 - 1)
    assert stripe_client.v1.subscriptions.retrieve(sub.id).status == "incomplete"
    stripe_emulator.advance(1)

    sub = stripe_client.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    assert sub.status == "incomplete_expired"
    assert sub.latest_invoice.status == "void"
    pi_id = stripe_client.v1.invoice_payments.list({"invoice": sub.latest_invoice.id}).data[0]
    assert (
        stripe_client.v1.payment_intents.retrieve(pi_id.payment.payment_intent).status == "canceled"
    )
    stripe_emulator.advance(40 * DAY)
    assert len(stripe_client.v1.invoices.list({"subscription": sub.id}).data) == 1


def test_clock_control_over_http(stripe_emulator) -> None:
    import requests

    before = stripe_emulator.now()
    answer = requests.post(
        f"{stripe_emulator.base_url}/_emulator/advance", json={"seconds": 60}, timeout=5
    )
    assert answer.json() == {"now": before + 60}
    clock = requests.get(f"{stripe_emulator.base_url}/_emulator/clock", timeout=5).json()
    assert clock == {"now": before + 60}


def test_start_time_option() -> None:
    with run_emulator(start_time=_ts(2030, 1, 1)) as handle:
        client = stripe.StripeClient(
            handle.api_key, base_addresses={"api": handle.base_url}, max_network_retries=0
        )
        assert client.v1.customers.create().created == _ts(2030, 1, 1)
