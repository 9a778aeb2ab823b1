"""Subscription schedules driven by the emulator clock, invoice by invoice."""

from __future__ import annotations

import pytest
import stripe

from sandbox.stripe.periods import boundary

from .helpers import (
    advance_to,
    customer_with_card,
    event_types,
    invoices_of,
    monthly_price,
    period_end,
    product,
)


def _months(n: int) -> dict:
    return {"interval": "month", "interval_count": n}


def _amounts(client, sub_id: str) -> list[int]:
    return [inv.amount_paid for inv in invoices_of(client, sub_id)]


def test_pay_plan_fixed_installment_with_remainder(stripe_client, stripe_emulator):
    """100 at 30: three invoices of 30, one of 10, then the schedule cancels."""
    client = stripe_client
    prod = product(client)
    thirty = monthly_price(client, prod.id, 3000)
    customer = customer_with_card(client)
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": thirty.id}],
                    "duration": {"interval": "month", "interval_count": 3},
                },
                {
                    "items": [
                        {
                            "price_data": {
                                "currency": "usd",
                                "product": prod.id,
                                "unit_amount": 1000,
                                "recurring": {"interval": "month"},
                            }
                        }
                    ],
                    "duration": {"interval": "month", "interval_count": 1},
                },
            ],
        }
    )
    assert sched.status == "active"
    sub_id = sched.subscription
    assert client.v1.subscriptions.retrieve(sub_id).schedule == sched.id
    assert event_types(client, "subscription_schedule.*") == ["subscription_schedule.created"]
    assert _amounts(client, sub_id) == [3000]

    seen = []
    for expected in ([3000, 3000], [3000, 3000, 3000], [3000, 3000, 3000, 1000]):
        advance_to(stripe_emulator, period_end(client, sub_id))
        seen = _amounts(client, sub_id)
        assert seen == expected
        assert client.v1.subscriptions.retrieve(sub_id).status == "active"
    assert sum(seen) == 10000

    advance_to(stripe_emulator, period_end(client, sub_id))
    assert _amounts(client, sub_id) == [3000, 3000, 3000, 1000], "no invoice after the plan"
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "canceled"
    final = client.v1.subscription_schedules.retrieve(sched.id)
    assert final.status == "completed"
    assert final.completed_at == stripe_emulator.now()
    assert final.current_phase is None
    types = event_types(client, "*")  # events of the last 30 days, as on Stripe
    assert types.index("subscription_schedule.completed") < types.index(
        "customer.subscription.deleted"
    )
    assert all(inv.status == "paid" for inv in invoices_of(client, sub_id))


def test_pay_plan_equal_installments_cents_on_last(stripe_client, stripe_emulator):
    """100.00 in 3: 33.33 twice, then 33.34; the subscription ends canceled."""
    client = stripe_client
    prod = product(client)
    first = monthly_price(client, prod.id, 3333)
    last = monthly_price(client, prod.id, 3334)
    customer = customer_with_card(client)
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "end_behavior": "cancel",
            "metadata": {"plan": "100in3"},
            "phases": [
                {"items": [{"price": first.id}], "duration": _months(2)},
                {"items": [{"price": last.id}], "duration": _months(1)},
            ],
        }
    )
    sub_id = sched.subscription
    expected = [[3333], [3333, 3333], [3333, 3333, 3334]]
    assert _amounts(client, sub_id) == expected[0]
    for amounts in expected[1:]:
        advance_to(stripe_emulator, period_end(client, sub_id))
        assert _amounts(client, sub_id) == amounts
    last_end = client.v1.subscription_schedules.retrieve(sched.id).phases[-1].end_date
    advance_to(stripe_emulator, last_end - 7 * 86400 - 1)
    assert "subscription_schedule.expiring" not in event_types(client, "subscription_schedule.*")
    stripe_emulator.advance(1)
    assert event_types(client, "subscription_schedule.*")[-1] == "subscription_schedule.expiring"
    assert sum(expected[-1]) == 10000
    advance_to(stripe_emulator, period_end(client, sub_id))
    assert client.v1.subscriptions.retrieve(sub_id).status == "canceled"
    assert client.v1.subscription_schedules.retrieve(sched.id).status == "completed"
    assert len(invoices_of(client, sub_id)) == 3
    assert event_types(client, "customer.subscription.deleted") == ["customer.subscription.deleted"]


def test_intro_price_until_end_date_then_regular(stripe_client, stripe_emulator):
    """Intro amount before the end date, plan amount after; the schedule releases."""
    client = stripe_client
    prod = product(client)
    intro = monthly_price(client, prod.id, 500)
    regular = monthly_price(client, prod.id, 2000)
    customer = customer_with_card(client)
    now = stripe_emulator.now()
    intro_end = boundary(now, "month", 1, 2)
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "end_behavior": "release",
            "phases": [
                {"items": [{"price": intro.id}], "end_date": intro_end},
                {"items": [{"price": regular.id}]},
            ],
        }
    )
    sub_id = sched.subscription
    assert sched.phases[0].end_date == intro_end
    assert sched.phases[1].start_date == intro_end
    assert sched.current_phase.end_date == intro_end

    advance_to(stripe_emulator, period_end(client, sub_id))
    assert _amounts(client, sub_id) == [500, 500]
    assert stripe_emulator.now() < intro_end

    advance_to(stripe_emulator, period_end(client, sub_id))
    assert stripe_emulator.now() == intro_end
    assert _amounts(client, sub_id) == [500, 500, 2000]
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"].data[0].price.id == regular.id
    assert client.v1.subscription_schedules.retrieve(sched.id).status == "active"

    # The last phase ends after one interval: the schedule lets go, billing continues.
    advance_to(stripe_emulator, period_end(client, sub_id))
    released = client.v1.subscription_schedules.retrieve(sched.id)
    assert released.status == "released"
    assert released.released_subscription == sub_id
    assert released.subscription is None
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub.status == "active"
    assert sub.schedule is None
    assert "subscription_schedule.released" in event_types(client, "subscription_schedule.*")
    advance_to(stripe_emulator, period_end(client, sub_id))
    assert _amounts(client, sub_id) == [500, 500, 2000, 2000, 2000]


def test_phase_ending_mid_period_switches_price_for_next_renewal(stripe_client, stripe_emulator):
    client = stripe_client
    prod = product(client)
    intro = monthly_price(client, prod.id, 700)
    regular = monthly_price(client, prod.id, 1500)
    customer = customer_with_card(client)
    mid = stripe_emulator.now() + 10 * 86400
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "phases": [
                {"items": [{"price": intro.id}], "end_date": mid, "proration_behavior": "none"},
                {"items": [{"price": regular.id}], "duration": {"interval": "month"}},
            ],
        }
    )
    sub_id = sched.subscription
    advance_to(stripe_emulator, mid)
    sub = client.v1.subscriptions.retrieve(sub_id)
    assert sub["items"].data[0].price.id == regular.id
    assert _amounts(client, sub_id) == [700]
    advance_to(stripe_emulator, period_end(client, sub_id))
    assert _amounts(client, sub_id) == [700, 1500]


def test_schedule_starting_later_creates_subscription_on_start_date(stripe_client, stripe_emulator):
    client = stripe_client
    prod = product(client)
    price = monthly_price(client, prod.id, 1200)
    customer = customer_with_card(client)
    start = stripe_emulator.now() + 5 * 86400
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "start_date": start,
            "phases": [{"items": [{"price": price.id}], "duration": {"interval": "month"}}],
        }
    )
    assert sched.status == "not_started"
    assert sched.subscription is None
    advance_to(stripe_emulator, start)
    started = client.v1.subscription_schedules.retrieve(sched.id)
    assert started.status == "active"
    assert _amounts(client, started.subscription) == [1200]


def test_from_subscription_then_update_phases(stripe_client, stripe_emulator):
    client = stripe_client
    prod = product(client)
    regular = monthly_price(client, prod.id, 2500)
    final = monthly_price(client, prod.id, 500)
    customer = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": regular.id}]}
    )
    sched = client.v1.subscription_schedules.create(params={"from_subscription": sub.id})
    assert sched.status == "active"
    assert sched.subscription == sub.id
    assert [it.price for it in sched.phases[0]["items"]] == [regular.id]
    assert client.v1.subscriptions.retrieve(sub.id).schedule == sched.id

    phase0 = sched.phases[0]
    updated = client.v1.subscription_schedules.update(
        sched.id,
        params={
            "end_behavior": "cancel",
            "phases": [
                {
                    "items": [{"price": regular.id}],
                    "start_date": phase0.start_date,
                    "end_date": phase0.end_date,
                },
                {"items": [{"price": final.id}], "duration": {"interval": "month"}},
            ],
        },
    )
    assert len(updated.phases) == 2
    advance_to(stripe_emulator, period_end(client, sub.id))
    advance_to(stripe_emulator, period_end(client, sub.id))
    assert _amounts(client, sub.id) == [2500, 500]
    assert client.v1.subscriptions.retrieve(sub.id).status == "canceled"


def test_release_and_cancel_by_api(stripe_client, stripe_emulator):
    client = stripe_client
    prod = product(client)
    price = monthly_price(client, prod.id, 900)
    customer = customer_with_card(client)
    phases = [{"items": [{"price": price.id}], "duration": _months(2)}]
    a = client.v1.subscription_schedules.create(params={"customer": customer.id, "phases": phases})
    b = client.v1.subscription_schedules.create(params={"customer": customer.id, "phases": phases})
    released = client.v1.subscription_schedules.release(a.id)
    assert released.status == "released"
    assert client.v1.subscriptions.retrieve(a.subscription).status == "active"
    canceled = client.v1.subscription_schedules.cancel(b.id)
    assert canceled.status == "canceled"
    assert client.v1.subscriptions.retrieve(b.subscription).status == "canceled"
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.subscription_schedules.release(b.id)
    types = event_types(client, "subscription_schedule.*")
    assert types.count("subscription_schedule.created") == 2
    assert "subscription_schedule.released" in types
    assert "subscription_schedule.canceled" in types


@pytest.mark.parametrize(
    "phase, param",
    [
        ({"iterations": 3}, "phases[0][iterations]"),
        ({"end_date": 1, "duration": {"interval": "month"}}, "phases[0]"),
    ],
)
def test_invalid_phases_are_refused(stripe_client, stripe_emulator, phase, param):
    client = stripe_client
    prod = product(client)
    price = monthly_price(client, prod.id, 900)
    customer = customer_with_card(client)
    with pytest.raises(stripe.InvalidRequestError) as info:
        client.v1.subscription_schedules.create(
            params={"customer": customer.id, "phases": [{"items": [{"price": price.id}], **phase}]}
        )
    assert info.value.param == param
    assert client.v1.subscriptions.list().data == []


def test_canceling_the_subscription_cancels_its_schedule(stripe_client, stripe_emulator):
    client = stripe_client
    prod = product(client)
    price = monthly_price(client, prod.id, 900)
    customer = customer_with_card(client)
    sched = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "phases": [{"items": [{"price": price.id}], "duration": _months(3)}],
        }
    )
    client.v1.subscriptions.cancel(sched.subscription)
    after = client.v1.subscription_schedules.retrieve(sched.id)
    assert after.status == "canceled"
    assert after.canceled_at == stripe_emulator.now()
    assert event_types(client, "subscription_schedule.*")[-1] == "subscription_schedule.canceled"
    stripe_emulator.advance(100 * 86400)
    assert len(invoices_of(client, sched.subscription)) == 1


@pytest.mark.parametrize("day", ["2027-01-31", "2026-11-30", "2028-02-29"])
def test_monthly_phases_end_on_the_subscriptions_period_ends_whatever_the_start_day(day):
    # Months count from the anchor: started on the 31st, periods end Feb 28 then Mar 31.
    # Phases of one month each must end on those same days (not Feb 28 then Mar 28), or a
    # schedule completes days before the period it ends (this failed on the 29th-31st).
    import datetime as dt

    from sandbox.stripe.server import run_emulator

    start = int(dt.datetime.fromisoformat(day).replace(tzinfo=dt.timezone.utc).timestamp())
    with run_emulator(start_time=start) as handle:
        client = stripe.StripeClient(
            handle.api_key, base_addresses={"api": handle.base_url}, max_network_retries=0
        )
        customer = customer_with_card(client)
        price = monthly_price(client, product(client), 3000)
        sched = client.v1.subscription_schedules.create(
            {
                "customer": customer.id,
                "start_date": "now",
                "end_behavior": "cancel",
                "phases": [{"items": [{"price": price.id}], "duration": _months(1)}] * 4,
            }
        )
        ends = [phase.end_date for phase in sched.phases]
        assert ends == [boundary(start, "month", 1, k) for k in range(1, 5)]
        for k in range(1, 5):
            handle.advance(boundary(start, "month", 1, k) - handle.now())
        final = client.v1.subscription_schedules.retrieve(sched.id)
        assert final.status == "completed"
        assert final.completed_at == boundary(start, "month", 1, 4)
