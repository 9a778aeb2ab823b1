"""Stripe test clocks through stripe-python only: renewals and a failed payment on a
clock's own time, and a clock moving nothing but its own customers' objects."""

from __future__ import annotations

import pytest
import stripe

START = 1_798_761_600  # 2027-01-01T00:00:00Z
HOUR = 3600


def _advance(client: stripe.StripeClient, clock_id: str, to: int) -> None:
    """Advance as Stripe's docs say: ask, then poll until the clock is ready again."""
    client.v1.test_helpers.test_clocks.advance(clock_id, {"frozen_time": to})
    for _ in range(50):
        clock = client.v1.test_helpers.test_clocks.retrieve(clock_id)
        if clock.status == "ready":
            assert clock.frozen_time == to
            return
    raise AssertionError("the test clock never became ready")


def _customer_on(client: stripe.StripeClient, clock_id: str, card: str) -> stripe.Customer:
    customer = client.v1.customers.create({"email": "clocked@example.com", "test_clock": clock_id})
    pm = client.v1.payment_methods.attach(card, {"customer": customer.id})
    return client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": pm.id}}
    )


def _invoices(client: stripe.StripeClient, sub_id: str) -> list[stripe.Invoice]:
    return list(reversed(client.v1.invoices.list({"subscription": sub_id, "limit": 100}).data))


def test_two_renewals_and_a_failed_payment_on_a_test_clock(stripe_client) -> None:
    client = stripe_client
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "renewals"})
    assert (clock.status, clock.frozen_time) == ("ready", START)
    customer = _customer_on(client, clock.id, "pm_card_visa")
    assert customer.test_clock == clock.id
    product = client.v1.products.create({"name": "Gold"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 1500,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    assert (sub.status, sub.start_date, sub.test_clock) == ("active", START, clock.id)
    # Someone not on the clock: its subscription must not move when the clock does.
    bystander = client.v1.customers.create({"payment_method": "pm_card_visa"})
    client.v1.customers.update(
        bystander.id,
        {"invoice_settings": {"default_payment_method": bystander_pm(client, bystander.id)}},
    )
    other = client.v1.subscriptions.create(
        {"customer": bystander.id, "items": [{"price": price.id}]}
    )

    for _ in range(2):
        period_end = client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end
        _advance(client, clock.id, period_end + HOUR)
        assert client.v1.subscriptions.retrieve(sub.id).status == "active"

    # The card starts failing; the third renewal's payment fails.
    failing = client.v1.payment_methods.attach(
        "pm_card_chargeCustomerFail", {"customer": customer.id}
    )
    client.v1.customers.update(
        customer.id, {"invoice_settings": {"default_payment_method": failing.id}}
    )
    period_end = client.v1.subscriptions.retrieve(sub.id)["items"].data[0].current_period_end
    _advance(client, clock.id, period_end + HOUR)

    invoices = _invoices(client, sub.id)
    assert [i.status for i in invoices] == ["paid", "paid", "paid", "open"]
    assert [i.billing_reason for i in invoices] == ["subscription_create"] + [
        "subscription_cycle"
    ] * 3
    assert [i.amount_due for i in invoices] == [1500] * 4
    assert all(i.test_clock == clock.id for i in invoices)
    failed = invoices[-1]
    assert failed.attempt_count == 1 and failed.next_payment_attempt > period_end
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    assert any(
        e.data.object.id == failed.id
        for e in client.v1.events.list({"type": "invoice.payment_failed"}).data
    )
    # Each renewal happened at the clock's time, a month apart.
    starts = [i.period_end for i in invoices[1:]]
    assert starts[0] < starts[1] < starts[2] < START + 100 * 86400

    assert len(_invoices(client, other.id)) == 1
    assert client.v1.subscriptions.retrieve(other.id).status == "active"
    types = [e.type for e in client.v1.events.list({"limit": 100}).data]
    assert types.count("test_helpers.test_clock.ready") == 3
    assert "test_helpers.test_clock.advancing" in types


def bystander_pm(client: stripe.StripeClient, customer_id: str) -> str:
    return client.v1.payment_methods.list({"customer": customer_id}).data[0].id


def test_advancing_one_clock_leaves_another_alone(stripe_client) -> None:
    client = stripe_client
    price = client.v1.prices.create(
        {
            "product": client.v1.products.create({"name": "Silver"}).id,
            "unit_amount": 800,
            "currency": "usd",
            "recurring": {"interval": "month"},
        }
    )
    clocks = [client.v1.test_helpers.test_clocks.create({"frozen_time": START}) for _ in range(2)]
    subs = [
        client.v1.subscriptions.create(
            {
                "customer": _customer_on(client, c.id, "pm_card_visa").id,
                "items": [{"price": price.id}],
            }
        )
        for c in clocks
    ]
    _advance(client, clocks[0].id, START + 40 * 86400)
    assert len(_invoices(client, subs[0].id)) == 2
    assert len(_invoices(client, subs[1].id)) == 1
    assert client.v1.test_helpers.test_clocks.retrieve(clocks[1].id).frozen_time == START
    listed = client.v1.test_helpers.test_clocks.list().data
    assert {c.id for c in listed} == {c.id for c in clocks}


def test_a_clock_only_moves_forward_and_deleting_it_deletes_its_customers(stripe_client) -> None:
    client = stripe_client
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START})
    customer = client.v1.customers.create({"test_clock": clock.id})
    assert customer.created == START
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": START - 1})
    assert info.value.param == "frozen_time"
    gone = client.v1.test_helpers.test_clocks.delete(clock.id)
    assert gone.deleted is True
    assert client.v1.customers.retrieve(customer.id).deleted is True
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.test_helpers.test_clocks.retrieve(clock.id)
    assert client.v1.events.list({"type": "test_helpers.test_clock.deleted"}).data


def test_an_advance_too_far_or_backwards_is_refused(stripe_client, stripe_emulator) -> None:
    """Stripe refuses a frozen_time not after the clock's and one past two intervals of the
    shortest subscription; the emulator once ran 2**40 seconds of weekly renewals and hung."""
    import requests

    client = stripe_client
    clock = client.v1.test_helpers.test_clocks.create({"frozen_time": START, "name": "bounds"})
    customer = _customer_on(client, clock.id, "pm_card_visa")
    product = client.v1.products.create({"name": "Weekly"})
    price = client.v1.prices.create(
        {
            "product": product.id,
            "unit_amount": 500,
            "currency": "usd",
            "recurring": {"interval": "week"},
        }
    )
    client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}]})
    for target in (2**40, START - 10, START, START + 14 * 86400 + 1):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            client.v1.test_helpers.test_clocks.advance(clock.id, {"frozen_time": target})
        assert refused.value.http_status == 400 and refused.value.param == "frozen_time"
    assert client.v1.test_helpers.test_clocks.retrieve(clock.id).frozen_time == START
    _advance(client, clock.id, START + 14 * 86400)  # exactly two weeks is allowed

    # The private control has the same outer bound.
    url = f"{stripe_emulator.base_url}/_emulator/advance"
    before = stripe_emulator.now()
    assert requests.post(url, json={"seconds": 2**40}, timeout=10).status_code == 400
    assert stripe_emulator.now() == before
    assert requests.post(url, json={"seconds": 60}, timeout=10).status_code == 200
