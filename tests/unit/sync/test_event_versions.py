"""Issue 10 fault 3: an event rendered in another Stripe API version is never misread. Its
object is re-read at the pinned version, or the event is parked dead with an error naming
both versions. Through the signed webhook endpoint and the worker."""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Callable
from typing import Any

import pytest

from connector.stripe_versions import PINNED, readiness_check
from connector.sync.inbox import DEAD, DONE
from tests.fixtures import stripe_events as se
from tests.unit.sync.harness import Bridge, seed_caspio

T = 1_800_000_000
OLD = "2024-06-20"


@pytest.fixture
def bridge(store: Any) -> Bridge:
    b = Bridge(store)
    seed_caspio(b.caspio)
    b.stripe.customers["cus_A"] = {"id": "cus_A", "metadata": {"caspio_customer_key": "CUST-A"}}
    b.stripe.payments["in_1"] = [se.invoice_payment("in_1", "pi_1", "ch_1")]
    return b


def old_invoice_paid() -> dict[str, Any]:
    """`invoice.paid` as a 2024-06-20 endpoint renders it: the subscription and its metadata
    at the top level, payment_intent and charge on the invoice, no `parent`."""
    invoice = se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)
    details = invoice.pop("parent")["subscription_details"]
    invoice.update(
        {
            "subscription": details["subscription"],
            "subscription_details": {"metadata": details["metadata"]},
            "payment_intent": "pi_1",
            "charge": "ch_1",
        }
    )
    event = se.event("invoice.paid", invoice, T)
    event["api_version"] = OLD
    return event


def pinned_invoice() -> dict[str, Any]:
    return se.invoice("in_1", status="paid", amount_paid=2000, attempt_count=1, paid_at=T)


def test_an_older_invoice_paid_is_re_read_and_names_its_subscription(bridge: Bridge) -> None:
    bridge.stripe.objects["in_1"] = pinned_invoice()
    event = old_invoice_paid()
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None
    assert (row["SubscriptionKey"], row["StripeSubscriptionID"], row["Status"]) == (
        "SUBKEY-A",
        "sub_A",
        "succeeded",
    )
    assert bridge.stripe.calls["invoice.retrieve"] == 1


def test_an_older_event_that_cannot_be_re_read_is_parked_dead_naming_both_versions(
    bridge: Bridge,
) -> None:
    event = old_invoice_paid()  # the invoice is gone from Stripe: 404
    bridge.post(event)
    row = bridge.inbox.get(event["id"])
    assert row is not None
    assert (row["status"], row["attempts"]) == (DEAD, 1)  # at once: retrying cannot help
    assert OLD in row["last_error"] and PINNED in row["last_error"]
    assert "ApiVersionMismatch" in row["last_error"]
    assert bridge.caspio.writes() == 0


def test_an_event_that_names_no_version_is_re_read_too(bridge: Bridge) -> None:
    bridge.stripe.objects["in_1"] = pinned_invoice()
    event = old_invoice_paid()
    del event["api_version"]
    bridge.post(event)
    row = bridge.caspio.row("Billing_Payments", "in_1")
    assert row is not None and row["SubscriptionKey"] == "SUBKEY-A"


def test_an_event_in_the_pinned_version_costs_no_re_read(bridge: Bridge) -> None:
    bridge.post(se.event("invoice.paid", pinned_invoice(), T))
    assert bridge.stripe.calls["invoice.retrieve"] == 0


def _dispute() -> dict[str, Any]:
    return se.recorded("dispute") | {
        "id": "dp_1",
        "charge": "ch_1",
        "payment_intent": "pi_1",
        "amount": 2000,
        "currency": "usd",
        "status": "needs_response",
    }


def _session() -> dict[str, Any]:
    return se.recorded("checkout.session") | {
        "id": "cs_1",
        "mode": "subscription",
        "subscription": "sub_A",
        "customer": "cus_A",
        "client_reference_id": "SUBKEY-A",
        "metadata": {},
    }


def _payout() -> dict[str, Any]:
    return se.payout("po_1", status="paid") | {"currency": "usd", "amount": 12345}


Check = Callable[[Bridge], bool]
KINDS: list[tuple[str, str, Callable[[], dict[str, Any]], Check]] = [
    (
        "invoice.payment_failed",
        "invoice",
        lambda: se.invoice("in_1", attempt_count=1),
        lambda b: (b.caspio.row("Billing_Payments", "in_1") or {}).get("Status") == "failed",
    ),
    (
        "customer.subscription.updated",
        "subscription",
        lambda: se.subscription("sub_A", status="past_due"),
        lambda b: (
            (b.caspio.row("Billing_Subscriptions", "SUBKEY-A") or {}).get("Status") == "past_due"
        ),
    ),
    (
        "checkout.session.completed",
        "checkout.session",
        _session,
        lambda b: (
            (b.caspio.row("Billing_Subscriptions", "SUBKEY-A") or {}).get("StripeSubscriptionID")
            == "sub_A"
        ),
    ),
    (
        "charge.refunded",
        "charge",
        lambda: se.charge("ch_1", intent_id="pi_1", refunded=500),
        lambda b: (b.caspio.row("Billing_Payments", "in_1") or {}).get("RefundedAmount") == 5,
    ),
    (
        "charge.dispute.created",
        "dispute",
        _dispute,
        lambda b: (b.caspio.row("Billing_Disputes", "dp_1") or {}).get("InvoiceID") == "in_1",
    ),
    (
        "payout.paid",
        "payout",
        _payout,
        lambda b: (b.caspio.row("Billing_Payouts", "po_1") or {}).get("Status") == "paid",
    ),
]


def _older(event_type: str, fresh: dict[str, Any]) -> dict[str, Any]:
    """The event as an old endpoint would send it: only the id and type are trusted here;
    every other field is unreadable for the bridge."""
    stub = {"id": fresh["id"], "object": fresh["object"], "customer": "cus_A"}
    event = se.event(event_type, stub, T + 100)
    event["api_version"] = OLD
    return event


def _with_paid_invoice(bridge: Bridge) -> None:
    bridge.post(se.event("invoice.paid", pinned_invoice(), T))


@pytest.mark.parametrize("event_type,kind,build,check", KINDS, ids=[k[0] for k in KINDS])
def test_every_handled_type_is_re_read(
    bridge: Bridge,
    event_type: str,
    kind: str,
    build: Callable[[], dict[str, Any]],
    check: Check,
) -> None:
    if kind in ("charge", "dispute"):
        _with_paid_invoice(bridge)
    fresh = build()
    assert fresh["object"] == kind
    if kind == "subscription":
        bridge.stripe.subscriptions["sub_A"] = fresh
    else:
        bridge.stripe.objects[fresh["id"]] = fresh
    if kind == "checkout.session":
        bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A")
    event = _older(event_type, fresh)
    bridge.post(event)
    assert bridge.status(event["id"]) == DONE
    assert check(bridge)


@pytest.mark.parametrize("event_type,kind,build,check", KINDS, ids=[k[0] for k in KINDS])
def test_every_handled_type_is_parked_when_it_cannot_be_re_read(
    bridge: Bridge,
    event_type: str,
    kind: str,
    build: Callable[[], dict[str, Any]],
    check: Check,
) -> None:
    event = _older(event_type, build())
    writes = bridge.caspio.writes()
    bridge.post(event)
    row = bridge.inbox.get(event["id"])
    assert row is not None and row["status"] == DEAD
    assert OLD in row["last_error"] and PINNED in row["last_error"]
    assert bridge.caspio.writes() == writes


def test_a_subscription_re_read_for_its_version_is_not_read_twice(bridge: Bridge) -> None:
    bridge.stripe.subscriptions["sub_A"] = se.subscription("sub_A")
    bridge.post(_older("customer.subscription.updated", se.subscription("sub_A")))
    assert bridge.stripe.calls["subscription.retrieve"] == 1
    assert bridge.stripe.calls["subscriptions.retrieve"] == 0


def test_readiness_names_the_version_events_arrive_in(bridge: Bridge) -> None:
    now = [0.0]
    check = readiness_check(lambda: bridge.store, clock=lambda: now[0])
    assert check() is None  # nothing received yet
    now[0] += 61
    bridge.post(se.event("invoice.paid", pinned_invoice(), T))
    assert check() is None
    now[0] += 61
    bridge.stripe.objects["in_1"] = pinned_invoice()
    event = old_invoice_paid()
    bridge.post(event)
    reason = check()
    assert reason is not None and OLD in reason and PINNED in reason and event["id"] in reason
    # answers are kept a minute: probes every few seconds read the store once a minute
    bridge.post(se.event("invoice.paid", copy.deepcopy(pinned_invoice()), T + 1))
    assert check() == reason
    now[0] += 61
    assert check() is None


def test_readyz_says_when_events_arrive_in_another_version(store: Any) -> None:
    from caspio_client import CaspioClient
    from connector.app import create_app
    from connector.services import Services
    from connector.settings import Settings
    from connector.stripe_gateway import StripeGateway
    from connector.sync.signature import signature_header

    settings = Settings.for_tests(stripe_webhook_secrets=("whsec_ready",))
    services = Services(
        settings=settings,
        caspio=CaspioClient("http://127.0.0.1:9", "id", "secret", max_attempts=1),
        stripe=StripeGateway("sk_test_x", api_base="http://127.0.0.1:9"),
        store=store,
    )
    client = create_app(settings, services=services).test_client()
    body = json.dumps(old_invoice_paid()).encode()
    header = signature_header("whsec_ready", int(time.time()), body)
    posted = client.post(
        "/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header},
        content_type="application/json",
    )
    assert posted.status_code == 200
    ready = client.get("/readyz")
    assert ready.status_code == 503
    reason = ready.get_json()["reasons"]["stripe_api_version"]
    assert OLD in reason and PINNED in reason
