"""Done-when of issue #14 over both emulators, through real HTTP."""

from __future__ import annotations

import threading

import requests

from tests.integration.retry.conftest import (
    CASPIO_APP,
    DAY,
    Bridge,
    fail_renewal,
    token_in,
)


def test_expired_card_renewal_then_get_then_declined_post_then_portal_then_paid(bridge: Bridge):
    invoice_id = fail_renewal(bridge)

    # the renewal failed with the expired card: row failed, a working RetryURL
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("failed", "available")
    assert row["FailureCode"] == "expired_card"
    retry_url = row["RetryURL"]
    assert retry_url.startswith(f"{bridge.url}/payments/{invoice_id}/retry?token=")
    assert bridge.row("Billing_Customers", "CustomerKey", "CUST-1")["PortalURL"].startswith(
        f"{bridge.url}/portal/CUST-1?token="
    )

    # GET (a link preview, a prefetch, the user opening it) charges nothing
    before = bridge.pay_calls()
    page = bridge.http.get(retry_url, timeout=10)
    assert page.status_code == 200
    assert "Retry this payment?" in page.text and "20.00 USD" in page.text
    assert "The card has expired." in page.text or "Your card has expired." in page.text
    assert 'id="confirm"' in page.text
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert bridge.pay_calls() == before
    assert bridge.stripe.v1.invoices.retrieve(invoice_id).status == "open"

    # Confirm without a card update: a decline, in plain words, written at once
    declined = bridge.http.post(
        f"{bridge.url}/payments/{invoice_id}/retry", data={"token": token_in(retry_url)},
        timeout=10,
    )
    assert declined.status_code == 200
    assert "The payment was declined" in declined.text
    assert "The card has expired." in declined.text
    assert bridge.pay_calls() == before + 1
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("failed", "failed")
    assert row["FailureCode"] == "expired_card"
    bridge.settle()  # the manual attempt's own invoice.payment_failed agrees
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"], row["RetryURL"]) == ("failed", "failed", retry_url)

    # the used link is refused and charges nothing
    again = bridge.http.post(retry_url, timeout=10)
    assert again.status_code == 409
    assert "has been used" in again.text
    assert bridge.pay_calls() == before + 1

    # Stripe's next automatic attempt fails too: a fresh link
    bridge.advance(DAY + 3600)
    row = bridge.payment(invoice_id)
    assert row["RetryStatus"] == "available"
    fresh = row["RetryURL"]
    assert fresh != retry_url

    # the card is replaced through the PortalURL, then Confirm: paid at once
    bridge.update_card_through_portal()
    calls = bridge.pay_calls()
    paid = bridge.http.post(fresh, timeout=10)
    assert paid.status_code == 200, paid.text
    assert "Payment succeeded" in paid.text and "20.00 USD" in paid.text
    assert "Last failure" not in paid.text
    assert bridge.pay_calls() == calls + 1
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")
    subscription = bridge.row("Billing_Subscriptions", "SubscriptionKey", bridge.sub_key)
    assert subscription["Status"] == "active" and subscription["AccessActive"] is True
    assert bridge.stripe.v1.invoices.retrieve(invoice_id).status == "paid"

    # the webhooks that follow agree
    bridge.settle()
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")
    subscription = bridge.row("Billing_Subscriptions", "SubscriptionKey", bridge.sub_key)
    assert subscription["Status"] == "active"

    # a second tab, a replayed POST: a clear page, no charge
    for _ in range(2):
        replay = bridge.http.post(fresh, timeout=10)
        assert replay.status_code == 200 and "has been made" in replay.text
    assert bridge.pay_calls() == calls + 1


def test_twenty_concurrent_posts_with_one_token_make_one_pay_call_and_one_charge(
    bridge: Bridge,
):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    bridge.update_card_through_portal()
    charges_before = {c.id for c in bridge.stripe.v1.charges.list({"limit": 100}).data}
    calls_before = bridge.pay_calls()

    barrier = threading.Barrier(20)
    answers: list[tuple[int, str]] = []
    lock = threading.Lock()

    def press() -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.post(
                retry_url, json={}, headers={"Origin": CASPIO_APP}, timeout=30
            )
            with lock:
                answers.append((response.status_code, response.json()["outcome"]))

    threads = [threading.Thread(target=press) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert len(answers) == 20
    assert bridge.pay_calls() == calls_before + 1
    outcomes = sorted(outcome for _status, outcome in answers)
    assert outcomes.count("succeeded") == 1
    assert set(outcomes) <= {"succeeded", "used", "already_paid", "rate_limited"}
    new_charges = [
        c
        for c in bridge.stripe.v1.charges.list({"limit": 100}).data
        if c.id not in charges_before and c.status == "succeeded"
    ]
    assert len(new_charges) == 1 and new_charges[0].amount == 2000
    bridge.settle()
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")


def test_recovered_by_stripes_own_retry_ends_the_link(bridge: Bridge):
    invoice_id = fail_renewal(bridge)
    retry_url = bridge.payment(invoice_id)["RetryURL"]
    bridge.update_card_through_portal()
    bridge.advance(DAY + 3600)  # Stripe's automatic retry charges the new card
    assert bridge.stripe.v1.invoices.retrieve(invoice_id).status == "paid"
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")

    calls = bridge.pay_calls()
    shown = bridge.http.get(retry_url, timeout=10)
    assert shown.status_code == 200 and "has been made" in shown.text
    assert 'id="confirm"' not in shown.text
    refused = bridge.http.post(retry_url, timeout=10)
    assert refused.status_code == 200 and "has been made" in refused.text
    assert bridge.pay_calls() == calls
    assert bridge.payment(invoice_id)["RetryStatus"] == "succeeded"
