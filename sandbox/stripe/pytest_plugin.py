"""Pytest fixtures: ``stripe_emulator`` (a running emulator) and ``stripe_client``.

One server per test session; every test starts from a reset state.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import stripe

from .server import EmulatorHandle, run_emulator


@pytest.fixture(scope="session")
def _stripe_emulator_server() -> Iterator[EmulatorHandle]:
    # Webhook retries fire at once in tests; three attempts per delivery.
    with run_emulator(webhook_retry_base=0.0, webhook_max_attempts=3, webhook_timeout=5.0) as h:
        yield h


@pytest.fixture
def stripe_emulator(_stripe_emulator_server: EmulatorHandle) -> Iterator[EmulatorHandle]:
    handle = _stripe_emulator_server
    handle.emulator.reset()
    yield handle
    handle.emulator.wait_idle(10)


@pytest.fixture
def stripe_client(stripe_emulator: EmulatorHandle) -> stripe.StripeClient:
    return stripe.StripeClient(
        stripe_emulator.api_key,
        base_addresses={"api": stripe_emulator.base_url},
        max_network_retries=0,
    )
