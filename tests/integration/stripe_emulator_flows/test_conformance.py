"""Conformance: every object the emulator returns has the keys of Stripe's example object.

One flow makes an object of every type (through stripe-python and the hosted pages); then
every stored object, every event and every nested object (found by its ``object`` field)
is compared key by key with the same type in ``stripe-fixtures3.json``. Nested plain
objects are compared too. Differences must be listed, with a reason, in
``shapes.OMITTED_KEYS`` (fixture keys we leave out) or ``shapes.EXTRA_KEYS`` (keys Stripe
returns that the fixture does not show), under a dotted path such as ``pricing.price_details``.
"""

from __future__ import annotations

from typing import Any

import requests

from sandbox.stripe import flow_shapes, shapes
from tests.reference import stripe_fixtures

from .helpers import advance_to, customer_with_card, monthly_price, period_end, product

# Free-form maps: their keys are data, not shape.
FREE_FORM = {"metadata", "previous_attributes"}
# Shapes stripe-python 16 declares for these wrappers (no fixture has them).
LIST_KEYS = {"object", "data", "has_more", "url"}
SEARCH_KEYS = {"object", "data", "has_more", "next_page", "url"}


def _fixtures() -> dict[str, Any]:
    return stripe_fixtures()


def _is_object(value: Any) -> bool:
    """A Stripe object names its type (``event.data`` holds one under ``object``)."""
    return isinstance(value, dict) and isinstance(value.get("object"), str)


class Checker:
    def __init__(self, fixtures: dict[str, Any]) -> None:
        self.fixtures = fixtures
        self.problems: list[str] = []
        self.seen: set[str] = set()

    def check(self, obj: dict[str, Any], where: str) -> None:
        kind = obj.get("object")
        if kind == "list":
            self._expect(set(obj), LIST_KEYS, f"{where} (list)")
            for i, item in enumerate(obj["data"]):
                self._walk(item, f"{where}.data[{i}]")
            self.seen.add("list")
            return
        if kind == "search_result":
            self._expect(set(obj), SEARCH_KEYS, f"{where} (search_result)")
            self.seen.add("search_result")
            return
        fixture_name = f"deleted_{kind}" if obj.get("deleted") else str(kind)
        fixture = self.fixtures.get(fixture_name)
        if fixture is None:
            self.problems.append(f"{where}: no fixture for object type {fixture_name!r}")
            return
        self.seen.add(fixture_name)
        self._compare(obj, fixture, str(kind), "", where)

    def _expect(self, actual: set[str], expected: set[str], where: str) -> None:
        if actual != expected:
            self.problems.append(f"{where}: keys {sorted(actual ^ expected)} differ")

    def _compare(self, ours: dict, theirs: dict, kind: str, path: str, where: str) -> None:
        omitted = shapes.OMITTED_KEYS.get(kind, {})
        extra = shapes.EXTRA_KEYS.get(kind, {})
        for key in sorted(set(theirs) - set(ours)):
            if f"{path}{key}" not in omitted:
                self.problems.append(f"{where}: {kind} lacks fixture key {path}{key}")
        for key in sorted(set(ours) - set(theirs)):
            if f"{path}{key}" not in extra:
                self.problems.append(f"{where}: {kind} has key {path}{key} not in the fixture")
        for key in sorted(set(ours) & set(theirs)):
            self._compare_value(ours[key], theirs[key], kind, f"{path}{key}", f"{where}.{key}")

    def _compare_value(self, ours: Any, theirs: Any, kind: str, path: str, where: str) -> None:
        if path.rsplit(".", 1)[-1] in FREE_FORM:
            return
        if _is_object(ours):
            self.check(ours, where)  # a nested object: compared with its own type
            return
        if isinstance(ours, list):
            sample = theirs[0] if isinstance(theirs, list) and theirs else None
            for i, item in enumerate(ours):
                self._compare_value(item, sample, kind, path, f"{where}[{i}]")
            return
        if isinstance(ours, dict) and isinstance(theirs, dict) and not _is_object(theirs):
            self._compare(ours, theirs, kind, f"{path}.", where)

    def _walk(self, value: Any, where: str) -> None:
        if _is_object(value):
            self.check(value, where)


def _make_every_object(client, emulator) -> list[dict[str, Any]]:
    """Drive one flow touching every resource; returns raw API responses worth checking."""
    base = emulator.base_url
    prod = product(client)
    price = monthly_price(client, prod.id, 3000)
    customer = customer_with_card(client)
    sub = client.v1.subscriptions.create(
        params={"customer": customer.id, "items": [{"price": price.id}]}
    )
    client.v1.subscriptions.update(sub.id, params={"metadata": {"k": "v"}})
    intro = client.v1.subscription_schedules.create(
        params={
            "customer": customer.id,
            "end_behavior": "cancel",
            "phases": [
                {"items": [{"price": price.id}], "duration": {"interval": "month"}},
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
                    "duration": {"interval": "month"},
                },
            ],
        }
    )
    checkout = client.v1.checkout.sessions.create(
        params={
            "mode": "subscription",
            "line_items": [{"price": price.id, "quantity": 1}],
            "success_url": "https://example.com/ok",
            "customer_email": "c@example.com",
        }
    )
    requests.post(
        checkout.url,
        data={"number": "4242424242424242", "exp_month": "1", "exp_year": "2030"},
        allow_redirects=False,
        timeout=10,
    )
    setup = client.v1.checkout.sessions.create(
        params={"mode": "setup", "customer": customer.id, "success_url": "https://example.com/ok"}
    )
    requests.post(
        setup.url,
        data={"number": "4242424242424242", "exp_month": "3", "exp_year": "2032"},
        allow_redirects=False,
        timeout=10,
    )
    portal = client.v1.billing_portal.sessions.create(
        params={"customer": customer.id, "return_url": "https://example.com/back"}
    )
    requests.post(
        portal.url,
        data={"number": "5555555555554444", "exp_month": "2", "exp_year": "2031"},
        allow_redirects=False,
        timeout=10,
    )
    charge = client.v1.charges.list(params={"customer": customer.id}).data[0]
    client.v1.refunds.create(params={"charge": charge.id, "amount": 100})
    dispute = emulator.emulator.open_dispute(charge.id)
    emulator.emulator.close_dispute(dispute["id"], "lost")
    emulator.emulator.create_payout(1000, status="failed")
    declined = customer_with_card(client, card="pm_card_chargeCustomerFail")
    client.v1.subscriptions.create(params={"customer": declined.id, "items": [{"price": price.id}]})
    advance_to(emulator, period_end(client, intro.subscription))
    clock = client.v1.test_helpers.test_clocks.create(params={"frozen_time": emulator.now()})
    clocked = client.v1.customers.create(params={"test_clock": clock.id, "source": "tok_visa"})
    client.v1.invoice_items.create(
        params={"customer": clocked.id, "amount": 500, "currency": "usd"}
    )
    draft = client.v1.invoices.create(
        params={"customer": clocked.id, "pending_invoice_items_behavior": "include"}
    )
    client.v1.invoices.finalize_invoice(draft.id, params={"auto_advance": True})
    client.v1.test_helpers.test_clocks.advance(
        clock.id, params={"frozen_time": emulator.now() + 7200}
    )
    endpoint = client.v1.webhook_endpoints.create(
        params={"url": "http://127.0.0.1:9/hook", "enabled_events": ["*"]}
    )
    gone = client.v1.products.create(params={"name": "Gone"})
    responses = [
        endpoint.to_dict(),
        client.v1.products.delete(gone.id).to_dict(),
        client.v1.customers.delete(declined.id).to_dict(),
        client.v1.webhook_endpoints.delete(endpoint.id).to_dict(),
        client.v1.customers.search(params={"query": "email:'payer@example.com'"}).to_dict(),
    ]
    key = emulator.api_key
    for path in (
        "/v1/invoices?expand[]=data.payments&expand[]=data.confirmation_secret",
        "/v1/subscription_schedules",
        "/v1/checkout/sessions",
        "/v1/refunds",
        "/v1/disputes",
        "/v1/payouts",
        "/v1/setup_intents",
        "/v1/events?limit=100",
        "/v1/invoice_payments",
        f"/v1/checkout/sessions/{checkout.id}/line_items",
        f"/v1/checkout/sessions/{checkout.id}?expand[]=line_items",
        "/v1/subscription_items?subscription=" + sub.id,
        "/v1/invoiceitems",
        "/v1/test_helpers/test_clocks",
    ):
        answer = requests.get(base + path, headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert answer.status_code == 200, (path, answer.text)
        responses.append(answer.json())
    return responses


def test_every_object_has_the_fixture_keys(stripe_client, stripe_emulator):
    fixtures = _fixtures()
    responses = _make_every_object(stripe_client, stripe_emulator)
    checker = Checker(fixtures)
    em = stripe_emulator.emulator
    with em.store.lock:
        stored = [obj for kind in [*shapes.DEFAULTS, "event"] for obj in em.store.all(kind)]
    for obj in stored:
        checker.check(obj, obj["id"])
    for i, response in enumerate(responses):
        checker.check(response, f"response[{i}]")
    summary = sorted({p.split(": ", 1)[1] for p in checker.problems})
    assert checker.problems == [], "\n".join(summary)
    expected_types = (
        set(shapes.DEFAULTS)
        | set(flow_shapes.FLOW_DEFAULTS)
        | {
            "event",
            "list",
            "search_result",
            "deleted_customer",
            "deleted_product",
            "deleted_webhook_endpoint",
        }
    )
    assert expected_types - checker.seen == set(), "the flow missed some object types"


def test_checker_reports_invented_and_missing_keys():
    """The comparison itself: an invented key and a dropped key are both caught."""
    checker = Checker(
        {
            "payout": {
                "id": "po_1",
                "object": "payout",
                "amount": 1,
                "trace_id": {"status": "s", "value": None},
            }
        }
    )
    checker.check(
        {"id": "po_2", "object": "payout", "invented": 1, "trace_id": {"status": "s"}}, "po_2"
    )
    assert checker.problems == [
        "po_2: payout lacks fixture key amount",
        "po_2: payout has key invented not in the fixture",
        "po_2.trace_id: payout lacks fixture key trace_id.value",
    ]
