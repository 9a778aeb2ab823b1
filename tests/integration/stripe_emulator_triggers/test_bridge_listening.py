"""The Stripe CLI trigger fixtures replayed with the bridge listening.

Every in-scope file of ``../shared/reference/stripe-cli-triggers/`` runs against the Stripe
emulator while its webhooks go to the bridge (webhook endpoint, inbox, worker, Caspio
emulator), wired as in ``tests/integration/webhooks/test_emulators.py``. None of these
objects was made by the bridge, so PRODUCT.md's "Objects the bridge did not create" rules
apply: no event may end ``dead`` or stay pending, a one-off or subscription invoice paid or
failed is a ``Billing_Payments`` row (``CustomerKey`` blank: the CLI's customers carry no
``caspio_customer_key``), a bare payment gets no payment row, a dispute is a
``Billing_Disputes`` row with ``InvoiceID`` blank, and no subscription is invented.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.sync.inbox import DEAD, PENDING, Inbox
from tests.fixtures.stores import store  # noqa: F401
from tests.integration.webhooks.test_emulators import LiveBridge, live  # noqa: F401

from .replay import replay
from .test_trigger_fixtures import ACCOUNT_API_VERSION, OUT_OF_SCOPE, _files, _fixture_path

# The Status of each row a file leaves in Caspio (tables not named stay empty), by the rules
# above. A $0 trial invoice is no payment; an open or voided one-off invoice is a payment row
# in that status; the CLI's schedule customers pay by their tok_visa source, except the
# test-clock one, which has no card (first invoice and renewal fail).
EXPECTED_ROWS: dict[str, dict[str, list[str]]] = {
    "charge.dispute.created.json": {"Billing_Disputes": ["warning_needs_response"]},
    "charge.dispute.updated.json": {"Billing_Disputes": ["warning_needs_response"]},
    "customer.subscription.created.json": {"Billing_Payments": ["succeeded"]},
    "customer.subscription.deleted.json": {"Billing_Payments": ["succeeded"]},
    "invoice.paid.json": {"Billing_Payments": ["succeeded"]},
    "invoice.payment_action_required.json": {"Billing_Payments": ["failed"]},
    "invoice.sent.json": {"Billing_Payments": ["open"]},
    "invoice.voided.json": {"Billing_Payments": ["void"]},
    "payout.created.json": {"Billing_Payouts": ["pending"]},
    "subscription.payment_failed.json": {"Billing_Payments": ["failed"]},
    "subscription.payment_succeeded.json": {"Billing_Payments": ["succeeded"]},
    "subscription_schedule.canceled.json": {"Billing_Payments": ["succeeded"]},
    "subscription_schedule.completed.json": {"Billing_Payments": ["failed", "failed"]},
    "subscription_schedule.created.json": {"Billing_Payments": ["succeeded"]},
    "subscription_schedule.updated.json": {"Billing_Payments": ["succeeded"]},
}
TABLES = (
    "Billing_Subscriptions",
    "Billing_Payments",
    "Billing_Payouts",
    "Billing_Disputes",
)


@pytest.fixture
def store_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """SQLite only: the PostgreSQL store is covered by tests/integration/webhooks; here the
    handlers are under test, 51 times."""
    yield f"sqlite:///{tmp_path_factory.mktemp('store')}/bridge.db"


@pytest.fixture
def older_account_version(live: LiveBridge) -> Iterator[None]:  # noqa: F811
    options = live.emulator.emulator.options
    saved = options.account_api_version
    options.account_api_version = ACCOUNT_API_VERSION
    try:
        yield
    finally:
        options.account_api_version = saved


def _settle(live: LiveBridge) -> None:  # noqa: F811
    """Deliver everything, then let the worker's retries run out their backoff."""
    live.settle()
    for _ in range(3):
        live.clock.now += 31
        live.settle()


@pytest.mark.parametrize("name", [f for f in _files() if f not in OUT_OF_SCOPE])
def test_fixture_with_the_bridge_listening(
    name: str,
    live: LiveBridge,  # noqa: F811
    older_account_version: None,
) -> None:
    path = _fixture_path(name)
    result = replay(path, live.emulator.base_url, live.emulator.api_key)
    assert not result.failures(), "\n".join(result.failures())
    _settle(live)
    inbox = Inbox(live.store)
    dead = inbox.list(status=DEAD)
    assert dead == [], [(e.event_type, e.last_error) for e in dead]
    assert inbox.list(status=PENDING) == []
    (own,) = live.caspio.select("Billing_Subscriptions")  # made before the replay, untouched
    assert (own["SubscriptionKey"], own["StripeSubscriptionID"] or "") == (live.sub_key, "")
    rows = {
        table: sorted(str(row["Status"]) for row in live.caspio.select(table))
        for table in TABLES[1:]
    }
    expected = {table: EXPECTED_ROWS.get(name, {}).get(table, []) for table in TABLES[1:]}
    assert rows == expected
    for payment in live.caspio.select("Billing_Payments"):
        assert payment["CustomerKey"] in ("", None) and payment["SubscriptionKey"] in ("", None)
    for dispute in live.caspio.select("Billing_Disputes"):
        assert dispute["InvoiceID"] in ("", None)
