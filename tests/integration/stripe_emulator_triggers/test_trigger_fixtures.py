"""Every Stripe CLI trigger fixture, replayed step by step against the Stripe emulator.

For each file of ``../shared/reference/stripe-cli-triggers/``: every step answers as the file
expects (2xx, or the Stripe error type it names), and the event the file is named after was
published. Files that need Stripe's private endpoints or non-card payment methods are listed
in ``OUT_OF_SCOPE`` with the reason; nothing else is skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from sandbox.stripe.server import EmulatorHandle, run_emulator
from tests.reference import REFERENCE_DIR, reference_file

from .replay import replay

TRIGGERS = "stripe-cli-triggers"

OUT_OF_SCOPE = {
    "checkout.session.async_payment_failed.json": (
        "pays with sepa_debit (not a card) through /v1/payment_pages, Stripe's private "
        "hosted-page API"
    ),
    "checkout.session.async_payment_succeeded.json": (
        "pays with sepa_debit (not a card) through /v1/payment_pages, Stripe's private "
        "hosted-page API"
    ),
    "checkout.session.completed.json": (
        "completes the session through GET /v1/payment_pages/{id} and its /confirm, private "
        "to Stripe's hosted page (the emulator completes sessions through its own page)"
    ),
    "payment_intent.partially_funded.json": (
        "customer_balance bank transfers and /v1/test_helpers/customers/{id}/fund_cash_balance"
    ),
    "payment_intent.processing.json": "sepa_debit, a non-card payment method",
}

# The event a file makes on Stripe when that is not the file's own name.
EVENT_MADE = {
    # Not Stripe event types: the CLI's names for a subscription's first invoice outcome.
    "subscription.payment_failed": "invoice.payment_failed",
    "subscription.payment_succeeded": "invoice.payment_succeeded",
    # Stripe sends .aborted only when delinquency cancels the subscription; this file cancels
    # a schedule that has not started, which Stripe announces as .canceled.
    "subscription_schedule.aborted": "subscription_schedule.canceled",
    # The file's schedule ends with end_behavior=release: Stripe releases the subscription
    # (status released, subscription_schedule.released).
    "subscription_schedule.completed": "subscription_schedule.released",
}

# Accounts created before 2025-09-30.clover default to an older version; the CLI sends no
# Stripe-Version on v1 calls, and its schedule fixtures still use phase ``iterations``.
ACCOUNT_API_VERSION = "2025-08-27.basil"


def _files() -> list[str]:
    folder = REFERENCE_DIR / TRIGGERS
    return sorted(p.name for p in folder.glob("*.json")) if folder.is_dir() else ["<absent>"]


@pytest.fixture(scope="module")
def trigger_emulator() -> Iterator[EmulatorHandle]:
    with run_emulator(webhook_retry_base=0.0, account_api_version=ACCOUNT_API_VERSION) as handle:
        yield handle


def _fixture_path(name: str) -> Path:
    reference_file(f"{TRIGGERS}/README.md")
    return reference_file(f"{TRIGGERS}/{name}")


def _published(handle: EmulatorHandle, event_type: str) -> bool:
    response = requests.get(
        f"{handle.base_url}/v1/events",
        params={"type": event_type, "limit": 1},
        headers={"Authorization": f"Bearer {handle.api_key}"},
        timeout=30,
    )
    response.raise_for_status()
    return bool(response.json()["data"])


@pytest.mark.parametrize("name", _files())
def test_trigger_fixture(name: str, trigger_emulator: EmulatorHandle) -> None:
    path = _fixture_path(name)
    if name in OUT_OF_SCOPE:
        pytest.skip(f"out of scope: {OUT_OF_SCOPE[name]}")
    trigger_emulator.reset()
    result = replay(path, trigger_emulator.base_url, trigger_emulator.api_key)
    assert not result.failures(), "\n".join(result.failures())
    event = EVENT_MADE.get(name.removesuffix(".json"), name.removesuffix(".json"))
    assert _published(trigger_emulator, event), f"{event} was not published"


def test_out_of_scope_list_names_real_files() -> None:
    """The skip list stays short and names only files that exist."""
    reference_file(f"{TRIGGERS}/README.md")
    assert set(OUT_OF_SCOPE) <= set(_files())
    assert len(OUT_OF_SCOPE) <= 5
