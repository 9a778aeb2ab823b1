"""`caspio-stripe stripe setup-webhook` against the Stripe emulator."""

import requests
from click.testing import CliRunner

from connector.cli import main
from connector.stripe_gateway import STRIPE_API_VERSION
from connector.sync.dispatch import HANDLED_TYPES


def endpoints_of(stripe_emulator):
    answer = requests.get(
        f"{stripe_emulator.base_url}/v1/webhook_endpoints",
        auth=(stripe_emulator.api_key, ""),
        timeout=10,
    )
    return answer.json()["data"]


def test_creates_the_endpoint_once_and_prints_its_secret(monkeypatch, tmp_path, stripe_emulator):
    monkeypatch.chdir(tmp_path)
    env = {
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "secret",
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": "whsec_placeholder",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8765",
    }
    first = CliRunner().invoke(main, ["stripe", "setup-webhook"], env=env)
    assert first.exit_code == 0, first.output + first.stderr
    assert first.output.strip().splitlines()[-1].startswith("whsec_")

    [endpoint] = endpoints_of(stripe_emulator)
    assert endpoint["url"] == "http://127.0.0.1:8765/stripe/webhook"
    assert endpoint["api_version"] == STRIPE_API_VERSION
    assert set(endpoint["enabled_events"]) == HANDLED_TYPES

    second = CliRunner().invoke(main, ["stripe", "setup-webhook"], env=env)
    assert second.exit_code == 0
    assert "already exists" in second.output and "whsec_" not in second.output
    assert len(endpoints_of(stripe_emulator)) == 1
