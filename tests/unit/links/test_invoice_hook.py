"""The invoice handlers' hook with the real RetryLinks: which outcome writes which link."""

from __future__ import annotations

import pytest

from connector.links.portal_links import PortalLinks
from connector.links.retry_links import RetryLinks, RetryLinkStore
from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
PUBLIC = "http://127.0.0.1:8000"
DECLINE = {
    "code": "card_declined",
    "decline_code": "expired_card",
    "message": "Your card has expired.",
    "charge": "ch_2",
}


@pytest.fixture
def bridge(link_store):
    clock_holder: list[Bridge] = []

    def clock() -> float:
        return clock_holder[0].clock.now

    links = RetryLinkStore(link_store, clock=clock)
    hook = RetryLinks(links, PUBLIC, PortalLinks(b"k" * 32, PUBLIC, clock=clock))
    b = Bridge(link_store, retry_links=hook)
    clock_holder.append(b)
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    b.stripe.subscriptions["sub_A"] = se.subscription("sub_A", period_end=T + 30 * 86400)
    b.stripe.payments["in_2"] = [se.invoice_payment("in_2", "pi_2", "ch_2", error=DECLINE)]
    b.links = links  # type: ignore[attr-defined]
    return b


def deliver(bridge: Bridge, event: dict) -> None:
    """Deliver one event and insist it was applied (the error shows when it was not)."""
    bridge.deliver(event)
    stored = bridge.inbox.get(event["id"])
    assert stored is not None and stored["status"] == "done", (
        stored and (stored["status"], stored["last_error"], stored["last_traceback"])
    )


def failed(attempt: int, at: int) -> dict:
    invoice = se.invoice(
        "in_2", status="open", attempt_count=attempt, next_payment_attempt=at + 86400
    )
    return se.event("invoice.payment_failed", invoice, at)


def paid(at: int) -> dict:
    invoice = se.invoice("in_2", status="paid", amount_paid=2000, attempt_count=2, paid_at=at)
    return se.event("invoice.paid", invoice, at)


def token_of(row: dict) -> str:
    return row["RetryURL"].split("token=", 1)[1]


def test_a_failure_writes_a_working_link_and_a_portal_url(bridge):
    deliver(bridge, failed(1, T))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert row["RetryStatus"] == "available"
    assert row["RetryURL"].startswith(f"{PUBLIC}/payments/in_2/retry?token=")
    link = bridge.links.find(token_of(row))
    assert (link.invoice_id, link.attempt, link.state) == ("in_2", 1, "available")
    assert link.reason == "Your card has expired."
    customer = bridge.caspio.row("Billing_Customers", "CUST-A")
    assert customer["PortalURL"].startswith(f"{PUBLIC}/portal/CUST-A?token=")


def test_the_failure_of_a_used_link_keeps_its_answer(bridge):
    deliver(bridge, failed(1, T))
    token = token_of(bridge.caspio.row("Billing_Payments", "in_2"))
    link = bridge.links.find(token)
    assert bridge.links.claim(link)
    bridge.links.finish(link, "failed", "The card has expired.")
    bridge.ctx.writer.upsert("Billing_Payments", "InvoiceID", "in_2", {"RetryStatus": "failed"})
    # the manual /pay's own payment_failed: same attempt_count, later time
    deliver(bridge, failed(1, T + 60))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert row["RetryStatus"] == "failed"
    assert token_of(row) == token


def test_a_later_automatic_failure_gets_a_fresh_link_and_the_old_one_dies(bridge):
    deliver(bridge, failed(1, T))
    first = token_of(bridge.caspio.row("Billing_Payments", "in_2"))
    deliver(bridge, failed(2, T + 3 * 86400))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert token_of(row) != first
    assert row["RetryStatus"] == "available"
    assert bridge.links.find(first).state == "replaced"


def test_paid_by_stripe_ends_the_link_and_says_succeeded(bridge):
    deliver(bridge, failed(1, T))
    token = token_of(bridge.caspio.row("Billing_Payments", "in_2"))
    deliver(bridge, paid(T + 86400))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")
    assert bridge.links.find(token).state == "succeeded"
    # a late duplicate of the failure changes nothing
    deliver(bridge, failed(1, T))
    row = bridge.caspio.row("Billing_Payments", "in_2")
    assert (row["Status"], row["RetryStatus"]) == ("succeeded", "succeeded")


def test_an_invoice_that_never_failed_gets_no_retry_status(bridge):
    bridge.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    invoice = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    deliver(bridge, se.event("invoice.paid", invoice, T))
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert "RetryStatus" not in row and "RetryURL" not in row


def test_a_voided_invoice_closes_its_link(bridge):
    deliver(bridge, failed(1, T))
    token = token_of(bridge.caspio.row("Billing_Payments", "in_2"))
    voided = se.invoice("in_2", status="void", attempt_count=1)
    deliver(bridge, se.event("invoice.voided", voided, T + 10))
    assert bridge.links.find(token).state == "closed"
