"""A Retry button does not outlive its invoice (issue 14, outside tester).

After a renewal failed (RetryStatus=available), the subscription ending or the invoice being
voided must turn the row's RetryStatus to `failed` with why, through the webhook endpoint and
the worker, and the link must be refused without a charge."""

from __future__ import annotations

from connector.links.retry_links import SUBSCRIPTION_ENDED, VOIDED
from tests.integration.retry.conftest import Bridge, fail_renewal


def _assert_retry_ended(
    bridge: Bridge, invoice_id: str, retry_url: str, decline: str, why: str
) -> None:
    row = bridge.payment(invoice_id)
    assert row["RetryStatus"] == "failed"
    # The decline stays readable; why no retry is possible follows it.
    assert row["FailureMessage"] == f"{decline} {why}"
    assert row["RetryURL"] == retry_url
    calls = bridge.pay_calls()
    shown = bridge.http.get(retry_url, timeout=10)
    assert shown.status_code == 410 and 'id="confirm"' not in shown.text
    refused = bridge.http.post(retry_url, timeout=10)
    assert refused.status_code == 410 and "can no longer be paid" in refused.text
    assert bridge.pay_calls() == calls


def test_a_canceled_subscription_ends_the_retry_button(bridge: Bridge) -> None:
    invoice_id = fail_renewal(bridge)
    row = bridge.payment(invoice_id)
    assert (row["Status"], row["RetryStatus"]) == ("failed", "available")
    retry_url, decline = row["RetryURL"], row["FailureMessage"]
    assert decline == "Your card has expired."
    bridge.stripe.v1.subscriptions.cancel(bridge.subscription_id)
    bridge.settle()  # customer.subscription.deleted: webhook endpoint, inbox, worker
    assert bridge.row("Billing_Subscriptions", "SubscriptionKey", bridge.sub_key)["Status"] == (
        "canceled"
    )
    assert bridge.payment(invoice_id)["Status"] == "failed"
    _assert_retry_ended(bridge, invoice_id, retry_url, decline, SUBSCRIPTION_ENDED)


def test_a_voided_invoice_ends_the_retry_button(bridge: Bridge) -> None:
    invoice_id = fail_renewal(bridge)
    row = bridge.payment(invoice_id)
    retry_url, decline = row["RetryURL"], row["FailureMessage"]
    bridge.stripe.v1.invoices.void_invoice(invoice_id)
    bridge.settle()
    assert bridge.payment(invoice_id)["Status"] == "void"
    _assert_retry_ended(bridge, invoice_id, retry_url, decline, VOIDED)
