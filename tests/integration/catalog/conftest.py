"""Both emulators, the bridge's clients pointed at them, and a Billing_Plans table."""

from __future__ import annotations

from decimal import Decimal

import pytest

from connector.caspio_setup import init_caspio
from connector.services import build_caspio_client, build_stripe_gateway
from connector.settings import Settings
from mappings import load_mapping


@pytest.fixture
def settings(fresh_caspio_emulator, stripe_emulator):
    return Settings.for_tests(
        caspio_account_url=fresh_caspio_emulator.base_url,
        caspio_client_id=fresh_caspio_emulator.client_id,
        caspio_client_secret=fresh_caspio_emulator.client_secret,
        stripe_secret_key=stripe_emulator.api_key,
        stripe_api_base=stripe_emulator.base_url,
    )


@pytest.fixture
def caspio(settings):
    client = build_caspio_client(settings)
    yield client
    client.close()


@pytest.fixture
def gateway(settings):
    return build_stripe_gateway(settings)


@pytest.fixture
def mapping():
    return load_mapping()


@pytest.fixture
def plans_table(caspio, mapping, fresh_caspio_emulator):
    """Every bridge table created through the REST API, counters reset afterwards."""
    init_caspio(caspio, mapping)
    fresh_caspio_emulator.controls.reset_calls()
    return mapping.table("Billing_Plans")


def plan_row(key: str, **values):
    row = {
        "PlanKey": key,
        "Name": f"Plan {key}",
        "Tier": ["Gold", "Silver", "Platinum"][sum(map(ord, key)) % 3],
        "Description": f"The {key} plan",
        "Amount": Decimal("9.99"),
        "Currency": "usd",
        "BillingInterval": "month",
        "IntervalCount": 1,
        "PlanType": "subscription",
        "Active": True,
    }
    row.update(values)
    return row


def caspio_writes(emulator) -> int:
    """Caspio calls that change data (anything but GET and the token)."""
    return sum(
        n
        for (method, table, _), n in emulator.controls.calls().items()
        if method != "GET" and table != "oauth"
    )


def stripe_writes(emulator) -> int:
    return sum(n for (method, _), n in emulator.emulator.requests.items() if method != "GET")


def stripe_reads(emulator) -> int:
    return sum(n for (method, _), n in emulator.emulator.requests.items() if method == "GET")
