import pytest
from click.testing import CliRunner

from connector.cli import main

SETTINGS = (
    "CASPIO_ACCOUNT_URL", "CASPIO_CLIENT_ID", "CASPIO_CLIENT_SECRET", "CASPIO_API_VERSION",
    "CASPIO_WEBHOOK_SECRET", "STRIPE_SECRET_KEY", "STRIPE_WEBHOOK_SECRET", "STRIPE_API_BASE",
    "BRIDGE_PUBLIC_URL", "BRIDGE_DATABASE_URL", "BRIDGE_MAPPING", "BRIDGE_SUCCESS_URL",
    "BRIDGE_CANCEL_URL", "BRIDGE_ALLOWED_ORIGINS", "BRIDGE_ADMIN_TOKEN", "BRIDGE_PAST_DUE_ACCESS",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No settings in the environment and no .env file in the working folder."""
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return monkeypatch


def test_help_lists_the_commands():
    result = CliRunner().invoke(main, ["--help"])
    assert result.exit_code == 0
    for name in ("check-config", "serve"):
        assert name in result.output


def test_check_config_without_settings_fails_with_one_line(clean_env):
    result = CliRunner().invoke(main, ["check-config"])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["caspio-stripe: setting CASPIO_ACCOUNT_URL: is required but not set"]


def test_check_config_offline_masks_secrets(clean_env):
    clean_env.setenv("CASPIO_ACCOUNT_URL", "https://c1abc123.caspio.com")
    clean_env.setenv("CASPIO_CLIENT_ID", "id")
    clean_env.setenv("CASPIO_CLIENT_SECRET", "caspio-secret-value-123")
    clean_env.setenv("STRIPE_SECRET_KEY", "sk_test_secretsecretsecret")
    clean_env.setenv("STRIPE_WEBHOOK_SECRET", "whsec_webhooksecretvalue")
    clean_env.setenv("BRIDGE_PUBLIC_URL", "https://bridge.example.com")
    result = CliRunner().invoke(main, ["check-config", "--offline"])
    assert result.exit_code == 0, result.output
    assert "CASPIO_ACCOUNT_URL" in result.output
    secrets = ("caspio-secret-value-123", "sk_test_secretsecretsecret", "whsec_webhooksecretvalue")
    for secret in secrets:
        assert secret not in result.output
