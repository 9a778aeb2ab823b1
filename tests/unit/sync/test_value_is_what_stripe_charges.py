"""Issue 10 fault 2: a subscription's value (MonthlyValue, YearlyValue and the customer's
totals) is what Stripe will charge: 0 during a free trial, item quantities exactly as Stripe
bills them, several items, the intro amount during an intro period (PRODUCT.md Totals).
Through the signed webhook endpoint and the worker."""

from __future__ import annotations

import copy
from fractions import Fraction
from typing import Any

import pytest

from connector.sync.totals import current_charge, discounted, item_amount
from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
DAY = 86400


@pytest.fixture
def bridge(store: Any) -> Bridge:
    b = Bridge(store)
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    return b


def values(bridge: Bridge) -> tuple[Any, Any, Any, Any, Any]:
    sub = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    customer = bridge.caspio.row("Billing_Customers", "CUST-A")
    assert sub is not None and customer is not None
    return (
        sub["MonthlyValue"],
        sub["YearlyValue"],
        customer["AvgMonthlyTotal"],
        customer["AvgYearlyTotal"],
        customer["ActiveSubscriptions"],
    )


def send(bridge: Bridge, sub: dict[str, Any], at: int, kind: str = "updated") -> None:
    bridge.stripe.subscriptions[sub["id"]] = copy.deepcopy(sub)
    bridge.post(se.event(f"customer.subscription.{kind}", sub, at))


def item(amount: int | None, quantity: int | None = 1, **price: Any) -> dict[str, Any]:
    base = se.subscription("sub_A")["items"]["data"][0]
    base["quantity"] = quantity
    base["price"]["unit_amount"] = amount
    base["price"]["unit_amount_decimal"] = None if amount is None else str(amount)
    base["price"].update(price)
    return base


def with_items(*items: dict[str, Any]) -> dict[str, Any]:
    sub = se.subscription("sub_A")
    sub["items"]["data"] = list(items)
    return sub


def test_a_free_trial_counts_zero_until_it_ends(bridge: Bridge) -> None:
    trial = se.subscription("sub_A", status="trialing", amount=3000) | {
        "trial_start": T,
        "trial_end": T + 14 * DAY,
    }
    send(bridge, trial, T, "created")
    assert values(bridge) == (0, 0, 0, 0, 1)
    sub = bridge.caspio.row("Billing_Subscriptions", "SUBKEY-A")
    assert sub is not None and sub["AccessActive"] is True
    send(bridge, se.subscription("sub_A", amount=3000), T + 14 * DAY)
    assert values(bridge) == (30, 360, 30, 360, 1)


def test_quantities_are_billed_as_stripe_bills_them(bridge: Bridge) -> None:
    send(bridge, with_items(item(1000, quantity=3)), T)
    assert values(bridge)[:2] == (30, 360)
    send(bridge, with_items(item(1000, quantity=0)), T + 1)
    assert values(bridge) == (0, 0, 0, 0, 1)


def test_several_items_are_added(bridge: Bridge) -> None:
    send(bridge, with_items(item(2000), item(500, quantity=2)), T)
    assert values(bridge) == (30, 360, 30, 360, 1)


def test_an_intro_coupon_counts_at_the_intro_amount(bridge: Bridge) -> None:
    sub = se.subscription("sub_A", amount=3000)
    sub["discounts"] = [
        {
            "id": "di_1",
            "object": "discount",
            "end": T + 90 * DAY,
            "source": {
                "type": "coupon",
                "coupon": {"id": "intro", "amount_off": 2000, "currency": "usd"},
            },
        }
    ]
    send(bridge, sub, T, "created")
    assert values(bridge)[:2] == (10, 120)
    # the intro period ended: Stripe removed the discount
    send(bridge, se.subscription("sub_A", amount=3000), T + 90 * DAY)
    assert values(bridge)[:2] == (30, 360)


def test_an_intro_phase_of_a_schedule_counts_at_its_price(bridge: Bridge) -> None:
    intro = se.subscription("sub_A", amount=1000) | {"schedule": "sub_sched_1"}
    send(bridge, intro, T, "created")
    assert values(bridge)[:2] == (10, 120)


def test_a_tiered_price_is_read_with_its_tiers(bridge: Bridge) -> None:
    tiers = [
        {"up_to": 5, "unit_amount": 1000, "flat_amount": None},
        {"up_to": None, "unit_amount": 500, "flat_amount": None},
    ]
    bridge.stripe.prices["price_t"] = {"id": "price_t", "tiers": tiers}
    tiered = item(None, quantity=7, id="price_t", billing_scheme="tiered", tiers_mode="graduated")
    send(bridge, with_items(tiered), T)
    # 5 x 10.00 + 2 x 5.00
    assert values(bridge)[:2] == (60, 720)


# The pure rules, case by case.


def test_item_amounts() -> None:
    assert item_amount(item(1000, quantity=3)) == 3000
    assert item_amount(item(1000, quantity=0)) == 0
    assert item_amount(item(None, quantity=1000, unit_amount_decimal="0.5")) == 500
    packs = {"divide_by": 10, "round": "up"}
    assert item_amount(item(500, quantity=15, transform_quantity=packs)) == 1000
    packs_down = {"divide_by": 10, "round": "down"}
    assert item_amount(item(500, quantity=15, transform_quantity=packs_down)) == 500
    metered = item(100, quantity=None)
    metered["price"]["recurring"]["usage_type"] = "metered"
    assert item_amount(metered) == 0
    volume = item(
        None,
        quantity=7,
        billing_scheme="tiered",
        tiers_mode="volume",
        tiers=[
            {"up_to": 5, "unit_amount": 1000, "flat_amount": None},
            {"up_to": None, "unit_amount": 500, "flat_amount": 200},
        ],
    )
    assert item_amount(volume) == 7 * 500 + 200


def test_discounts() -> None:
    def percent(value: float) -> dict[str, Any]:
        return {"id": "di", "source": {"coupon": {"percent_off": value}}}

    assert discounted(Fraction(3000), [percent(50)], "usd") == 1500
    assert discounted(Fraction(3000), [percent(12.5)], "usd") == 2625
    other = {"id": "di", "source": {"coupon": {"amount_off": 500, "currency": "eur"}}}
    assert discounted(Fraction(3000), [other], "usd") == 3000
    legacy = {"id": "di", "coupon": {"amount_off": 5000, "currency": "usd"}}
    assert discounted(Fraction(3000), [legacy], "usd") == 0
    with pytest.raises(ValueError, match="not expanded"):
        discounted(Fraction(3000), ["di_1"], "usd")


def test_paused_collection_charges_nothing() -> None:
    sub = se.subscription("sub_A") | {"pause_collection": {"behavior": "void"}}
    assert current_charge(sub).amount_minor == 0
    assert current_charge(se.subscription("sub_A")).amount_minor == 2000
