"""Form row -> /signup -> the emulator's Checkout page -> Caspio rows, over real HTTP."""

from __future__ import annotations

import threading
from decimal import Decimal
from typing import Any
from urllib.parse import quote

import requests

from connector.billing.provisioning import Provisioner

from .conftest import Bridge


def test_paid_signup_makes_the_row_active_with_customer_row_and_totals(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-NEW", "gold", Email="ann@example.com", Name="Ann Lee")
    assert bridge.customer_rows("CUST-NEW") == []

    answer = bridge.signup(key)
    assert answer.status_code == 303
    checkout = answer.headers["Location"]
    assert checkout.startswith(f"{bridge.stripe_emulator.base_url}/checkout/cs_test_")
    row = bridge.row(key)
    assert (row["Status"], row["CheckoutURL"]) == ("checkout", checkout)
    (customer,) = bridge.customer_rows("CUST-NEW")
    assert (customer["Email"], customer["Name"]) == ("ann@example.com", "Ann Lee")
    stripe_customer = bridge.stripe.v1.customers.retrieve(customer["StripeCustomerID"])
    assert stripe_customer.metadata["caspio_customer_key"] == "CUST-NEW"
    assert stripe_customer.email == "ann@example.com"

    page = requests.get(checkout, timeout=10)
    assert "25.00 USD" in page.text
    paid = bridge.pay(checkout)
    assert paid.status_code == 303 and paid.headers["Location"] == "http://127.0.0.1:9/registered"
    bridge.settle()

    row = bridge.row(key)
    assert row["Status"] == "active" and row["AccessActive"] is True
    sub = bridge.stripe.v1.subscriptions.retrieve(row["StripeSubscriptionID"])
    assert sub.metadata.to_dict() == {
        "caspio_subscription_key": key,
        "caspio_customer_key": "CUST-NEW",
        "caspio_plan_key": "gold",
    }
    assert row["StripeScheduleID"] in (None, "")  # one amount, nothing to schedule
    assert row["StartedAt"] and row["CurrentPeriodEnd"] and row["LastError"] in (None, "")
    assert Decimal(str(row["MonthlyValue"])) == Decimal("25")
    assert Decimal(str(row["YearlyValue"])) == Decimal("300")
    (customer,) = bridge.customer_rows("CUST-NEW")
    assert customer["StripeCustomerID"] == sub.customer
    assert Decimal(str(customer["AvgMonthlyTotal"])) == Decimal("25")
    assert Decimal(str(customer["AvgYearlyTotal"])) == Decimal("300")
    assert customer["ActiveSubscriptions"] == 1
    (payment,) = bridge.payments(key)
    assert (payment["Status"], Decimal(str(payment["Amount"]))) == ("succeeded", Decimal("25"))
    assert len(bridge.stripe.v1.customers.list().data) == 1

    # The link is finished now: same page as for a key that never existed.
    again = bridge.signup(key)
    assert again.status_code == 404
    assert again.text == bridge.signup("00000000-0000-4000-8000-000000000000").text


def test_declined_card_shows_on_checkout_and_leaves_nothing_in_stripe(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-D", "gold", Email="d@example.com")
    checkout = bridge.signup(key).headers["Location"]
    customers_before = len(bridge.stripe.v1.customers.list().data)

    declined = bridge.pay(checkout, "4000000000000002")
    assert declined.status_code == 402
    assert "Your card was declined." in declined.text
    bridge.settle()

    assert bridge.stripe.v1.subscriptions.list({"status": "all"}).data == []
    assert bridge.stripe.v1.payment_methods.list().data == []
    assert bridge.stripe.v1.invoices.list().data == []
    assert len(bridge.stripe.v1.customers.list().data) == customers_before
    row = bridge.row(key)
    assert row["Status"] == "checkout" and row["StripeSubscriptionID"] in (None, "")
    assert bridge.payments(key) == []
    # The payer may still try another card on the same page.
    assert bridge.signup(key).headers["Location"] == checkout


def test_reopening_the_link_reuses_the_open_session_and_replaces_an_expired_one(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-R", "gold")
    first = bridge.signup(key).headers["Location"]
    assert bridge.signup(key).headers["Location"] == first
    bridge.stripe_emulator.advance(24 * 3600 + 1)  # Checkout sessions live 24 hours
    second = bridge.signup(key).headers["Location"]
    assert second != first
    assert bridge.row(key)["CheckoutURL"] == second
    assert len(bridge.stripe.v1.customers.list().data) == 1
    bridge.pay(second)
    bridge.settle()
    assert bridge.row(key)["Status"] == "active"


def test_url_encoded_braced_or_upper_case_keys_are_the_same_key(bridge: Bridge):
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-E", "gold")
    first = bridge.signup(key).headers["Location"]
    for variant in (quote(key, safe=""), quote(quote(key, safe=""), safe=""),
                    key.upper(), quote("{" + key + "}", safe="")):
        answer = bridge.signup(variant)
        assert (answer.status_code, answer.headers.get("Location")) == (303, first), variant


def test_unknown_malformed_and_finished_keys_get_one_short_page(bridge: Bridge):
    bridge.plan("gold", "25.00")
    done = bridge.register("CUST-F", "gold")
    bridge.caspio.update(
        "Billing_Subscriptions",
        __import__("caspio_client").where.eq("SubscriptionKey", done),
        {"Status": "canceled"},
    )
    pages = {
        bridge.signup(probe).text
        for probe in (
            "not-a-key",
            "00000000-0000-4000-8000-000000000000",
            done,
            "x' OR '1'='1",
            "%ZZ",
            "a" * 500,
        )
    }
    assert len(pages) == 1
    (text,) = pages
    assert "Traceback" not in text and len(text) < 600
    assert bridge.signup("nope").status_code == 404
    assert bridge.stripe.v1.customers.list().data == []


def test_a_plan_not_in_stripe_gives_a_page_and_a_last_error(bridge: Bridge):
    bridge.caspio.insert(
        "Billing_Plans",
        {"PlanKey": "unsynced", "Amount": Decimal("5"), "BillingInterval": "month",
         "Active": True},
    )
    key = bridge.register("CUST-U", "unsynced")
    answer = bridge.signup(key)
    assert answer.status_code == 409
    assert "sync-plans" not in answer.text
    assert "sync-plans" in bridge.row(key)["LastError"]
    assert bridge.stripe.v1.customers.list().data == []


def test_two_concurrent_signups_for_one_new_customer_make_one_customer(bridge: Bridge):
    bridge.plan("gold", "25.00")
    keys = [
        bridge.register("CUST-RACE", "gold", Email="race@example.com", Name="Race")
        for _ in range(2)
    ]
    start = threading.Barrier(len(keys))
    answers: list[requests.Response] = []

    def open_link(key: str) -> None:
        start.wait()
        answers.append(bridge.signup(key))

    threads = [threading.Thread(target=open_link, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.status_code for a in answers) == [303, 303]
    customers = bridge.stripe.v1.customers.list().data
    assert len(customers) == 1
    (row,) = bridge.customer_rows("CUST-RACE")
    assert row["StripeCustomerID"] == customers[0].id
    assert (row["Email"], row["Name"]) == ("race@example.com", "Race")
    for answer in answers:
        bridge.pay(answer.headers["Location"])
    bridge.settle()
    assert {bridge.row(k)["Status"] for k in keys} == {"active"}
    (row,) = bridge.customer_rows("CUST-RACE")
    assert row["ActiveSubscriptions"] == 2
    assert Decimal(str(row["AvgMonthlyTotal"])) == Decimal("50")


def test_webhooks_naming_a_customer_without_a_row_create_it(bridge: Bridge):
    """A subscription made outside sign-up (dashboard, another program) for a CustomerKey
    the app has no row for: the row is created, never a dead event."""
    bridge.plan("gold", "25.00")
    key = bridge.register("CUST-GHOST", "gold")
    customer = bridge.stripe.v1.customers.create(
        {"email": "ghost@example.com", "name": "Ghost",
         "metadata": {"caspio_customer_key": "CUST-GHOST"}}
    )
    pm = bridge.stripe.v1.payment_methods.attach("pm_card_visa", {"customer": customer.id})
    price = bridge.stripe.v1.prices.list({"lookup_keys": ["gold"]}).data[0]
    bridge.stripe.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"price": price.id}], "default_payment_method": pm.id,
         "metadata": {"caspio_subscription_key": key, "caspio_plan_key": "gold"}}
    )
    bridge.settle()
    (row,) = bridge.customer_rows("CUST-GHOST")
    assert (row["StripeCustomerID"], row["Email"], row["Name"]) == (
        customer.id, "ghost@example.com", "Ghost"
    )
    assert row["ActiveSubscriptions"] == 1
    assert bridge.row(key)["Status"] == "active"


def test_a_free_initial_period_too_short_for_checkout_is_a_clear_last_error(bridge: Bridge):
    import datetime as dt
    import time

    bridge.plan("gold", "25.00")
    soon = dt.datetime.fromtimestamp(time.time() + 86400, tz=dt.timezone.utc)
    key = bridge.register(
        "CUST-SOON",
        "gold",
        InitialAmount=Decimal("0"),
        InitialBillingEnd=soon.replace(tzinfo=None, microsecond=0).isoformat(),
    )
    assert bridge.signup(key).status_code == 409
    assert "48 hours" in bridge.row(key)["LastError"]
    assert bridge.stripe.v1.checkout.sessions.list().data == []


def test_customer_keys_caspio_treats_as_one_make_one_stripe_customer(bridge: Bridge):
    """`MaryX1` and `maryx1 ` are one Caspio key. The interleaving of two first sign-ups is
    forced: the second reads "no customer row" before the first wrote it, as a racer would."""
    bridge.plan("gold", "25.00")
    first = Provisioner.from_services(bridge.services)
    second = Provisioner.from_services(bridge.services)
    seen_before_the_first_wrote = None

    def racing_find_one(table: str, field: str, key: str) -> Any:
        return seen_before_the_first_wrote

    one = first.find_or_create_customer("MaryX1", "mary@example.com", "Mary")
    second.writer.find_one = racing_find_one  # type: ignore[method-assign]
    other = second.find_or_create_customer("maryx1 ", "mary@example.com", "Mary")
    assert one == other
    customers = bridge.stripe.v1.customers.list().data
    assert [c.id for c in customers] == [one]
    assert customers[0].metadata["caspio_customer_key"] in ("MaryX1", "maryx1 ")
    (row,) = bridge.customer_rows("MaryX1")
    assert row["StripeCustomerID"] == one
    assert row["CustomerKey"] == "MaryX1"  # the text as the first sign-up wrote it


def test_concurrent_signups_with_differently_cased_customer_keys_make_one_customer(
    bridge: Bridge,
):
    bridge.plan("gold", "25.00")
    keys = [bridge.register(k, "gold", Email="a@example.com") for k in ("ACase2", "Acase2 ")]
    start = threading.Barrier(len(keys))
    answers: list[requests.Response] = []

    def open_link(key: str) -> None:
        start.wait()
        answers.append(bridge.signup(key))

    threads = [threading.Thread(target=open_link, args=(key,)) for key in keys]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(a.status_code for a in answers) == [303, 303]
    customers = bridge.stripe.v1.customers.list().data
    assert len(customers) == 1
    (row,) = bridge.customer_rows("acase2")
    assert row["StripeCustomerID"] == customers[0].id
