"""`caspio-stripe check-config` reports a webhook endpoint that sends this bridge events in
another Stripe API version than the pinned one (issue 10 fault 3), against the emulator."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.stripe_gateway import STRIPE_API_VERSION, StripeGateway

PUBLIC_URL = "http://127.0.0.1:8011"
TARGET = PUBLIC_URL + "/stripe/webhook"


@pytest.fixture
def env(monkeypatch: Any, tmp_path: Any, caspio_emulator: Any, stripe_emulator: Any) -> Any:
    monkeypatch.chdir(tmp_path)
    for name, value in {
        "CASPIO_ACCOUNT_URL": caspio_emulator.base_url,
        "CASPIO_CLIENT_ID": caspio_emulator.client_id,
        "CASPIO_CLIENT_SECRET": caspio_emulator.client_secret,
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": "whsec_checkconfig",
        "BRIDGE_PUBLIC_URL": PUBLIC_URL,
    }.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


@pytest.fixture
def endpoints(stripe_emulator: Any) -> Iterator[Any]:
    """The emulator's Stripe client; endpoints made through it are deleted afterwards (the
    emulator is shared by the whole session)."""
    client = StripeGateway(stripe_emulator.api_key, api_base=stripe_emulator.base_url).client
    made: list[str] = []
    yield client, made
    for endpoint_id in made:
        client.v1.webhook_endpoints.delete(endpoint_id)


def make(endpoints: Any, url: str, version: str | None) -> str:
    client, made = endpoints
    params: dict[str, Any] = {"url": url, "enabled_events": ["invoice.paid"]}
    if version:
        params["api_version"] = version
    endpoint = client.v1.webhook_endpoints.create(params)
    made.append(endpoint.id)
    return str(endpoint.id)


def test_an_endpoint_in_another_version_is_one_failure_line(env: Any, endpoints: Any) -> None:
    endpoint_id = make(endpoints, TARGET, "2024-06-20")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1, result.stderr
    assert endpoint_id in failures[0] and "2024-06-20" in failures[0]
    assert STRIPE_API_VERSION in failures[0]


def test_an_endpoint_in_the_account_default_version_is_reported(env: Any, endpoints: Any) -> None:
    make(endpoints, TARGET, None)
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    assert "the account's default version" in result.stderr


def test_the_pinned_version_and_other_apps_endpoints_pass(env: Any, endpoints: Any) -> None:
    make(endpoints, TARGET, STRIPE_API_VERSION)
    make(endpoints, "http://127.0.0.1:9999/someone-else", "2024-06-20")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "OK: Caspio and Stripe both answered." in result.output


def test_a_disabled_endpoint_is_one_failure_line(env: Any, endpoints: Any) -> None:
    endpoint_id = make(endpoints, TARGET, STRIPE_API_VERSION)
    endpoints[0].v1.webhook_endpoints.update(endpoint_id, {"disabled": True})
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1, result.output + result.stderr
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1 and endpoint_id in failures[0] and "disabled" in failures[0]
    assert "OK:" not in result.output


def test_no_endpoint_for_the_bridge_is_a_warning(env: Any, endpoints: Any) -> None:
    make(endpoints, "http://127.0.0.1:9999/someone-else", STRIPE_API_VERSION)
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output + result.stderr
    warnings = [line for line in result.stderr.splitlines() if line.startswith("WARN")]
    assert len(warnings) == 1 and TARGET in warnings[0], result.stderr
    assert "OK: Caspio and Stripe both answered." in result.output
