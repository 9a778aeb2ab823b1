"""`caspio-stripe check-config` against both emulators: it really calls the two APIs."""

import pytest
from click.testing import CliRunner

from connector.cli import main


@pytest.fixture
def emulator_env(monkeypatch, tmp_path, caspio_emulator, stripe_emulator):
    monkeypatch.chdir(tmp_path)
    env = {
        "CASPIO_ACCOUNT_URL": caspio_emulator.base_url,
        "CASPIO_CLIENT_ID": caspio_emulator.client_id,
        "CASPIO_CLIENT_SECRET": caspio_emulator.client_secret,
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": "whsec_checkconfig",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_both_apis_answer(emulator_env, caspio_emulator):
    before = caspio_emulator.emulator.calls()
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 0, result.output + result.stderr
    assert "OK: Caspio and Stripe both answered." in result.output
    assert caspio_emulator.emulator.calls() != before


def test_wrong_caspio_secret_is_one_clear_line(emulator_env):
    emulator_env.setenv("CASPIO_CLIENT_SECRET", "not-the-secret")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert failures[0].startswith("FAIL Caspio at ")
    assert "check CASPIO_CLIENT_ID and CASPIO_CLIENT_SECRET" in failures[0]
    assert "not-the-secret" not in result.output + result.stderr


def test_wrong_stripe_key_is_one_clear_line(emulator_env):
    emulator_env.setenv("STRIPE_SECRET_KEY", "sk_live_wrongkey")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1
    assert failures[0].endswith("refused STRIPE_SECRET_KEY (HTTP 401); check the key")
    assert "sk_live_wrongkey" not in result.output + result.stderr


def test_unreachable_apis_are_one_line_each_and_quick(emulator_env):
    emulator_env.setenv("CASPIO_ACCOUNT_URL", "http://127.0.0.1:9")
    emulator_env.setenv("STRIPE_API_BASE", "http://127.0.0.1:9")
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "FAIL Caspio at http://127.0.0.1:9 is unreachable: connection refused",
        "FAIL Stripe at http://127.0.0.1:9 is unreachable: connection refused",
    ]
