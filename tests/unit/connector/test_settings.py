from pathlib import Path

import pytest

from connector.settings import Secret, Settings, SettingsError

VALID = {
    "CASPIO_ACCOUNT_URL": "https://c1abc123.caspio.com",
    "CASPIO_CLIENT_ID": "client-id",
    "CASPIO_CLIENT_SECRET": "caspio-very-secret-value",
    "STRIPE_SECRET_KEY": "sk_test_51abcdefghijklmnop",
    "STRIPE_WEBHOOK_SECRET": "whsec_first,whsec_second",
    "BRIDGE_PUBLIC_URL": "https://bridge.example.com",
}


def settings_with(**changes: str | None) -> Settings:
    env = dict(VALID)
    for key, value in changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return Settings.from_env(env, env_file=None)


def test_valid_environment_gives_defaults():
    settings = settings_with()
    assert settings.caspio_api_version == "v3"
    assert settings.bridge_database_url == "sqlite:///caspio-stripe.db"
    assert settings.bridge_past_due_access is True
    assert [s.reveal() for s in settings.stripe_webhook_secrets] == ["whsec_first", "whsec_second"]
    assert settings.bridge_admin_token is None
    assert settings.bridge_link_secret is None
    assert settings.bridge_link_days == 30


def test_link_settings_are_read_and_the_link_secret_is_masked():
    settings = settings_with(BRIDGE_LINK_SECRET="l" * 40, BRIDGE_LINK_DAYS="7")
    assert settings.bridge_link_days == 7
    assert settings.bridge_link_secret is not None
    assert settings.bridge_link_secret.reveal() == "l" * 40
    assert "l" * 40 not in repr(settings) + str(settings.describe())


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("CASPIO_ACCOUNT_URL", None, "is required"),
        ("CASPIO_ACCOUNT_URL", "http://c1abc123.caspio.com", "https"),
        ("CASPIO_ACCOUNT_URL", "c1abc123.caspio.com", "https://"),
        ("STRIPE_SECRET_KEY", "pk_test_abc", "sk_test_"),
        ("STRIPE_WEBHOOK_SECRET", "secret", "whsec_"),
        ("CASPIO_API_VERSION", "v9", "v2 or v3"),
        ("BRIDGE_PAST_DUE_ACCESS", "maybe", "true or false"),
        ("BRIDGE_DATABASE_URL", "mysql://x", "sqlite"),
        ("BRIDGE_MAPPING", "/nonexistent/mapping.yaml", "does not exist"),
        ("BRIDGE_ADMIN_TOKEN", "short", "16 characters"),
        ("BRIDGE_SUCCESS_URL", "http://example.com/ok", "https"),
        ("BRIDGE_LINK_SECRET", "too-short", "32 characters"),
        ("BRIDGE_LINK_DAYS", "0", "1 to 365"),
        ("BRIDGE_LINK_DAYS", "thirty", "1 to 365"),
    ],
)
def test_bad_value_names_the_variable_in_one_line(variable, value, problem):
    with pytest.raises(SettingsError) as caught:
        settings_with(**{variable: value})
    message = str(caught.value)
    assert message.startswith(f"{variable}: ")
    assert problem in message
    assert "\n" not in message


def test_loopback_addresses_may_use_plain_http():
    settings = settings_with(
        CASPIO_ACCOUNT_URL="http://127.0.0.1:8100",
        STRIPE_API_BASE="http://localhost:8200/",
        BRIDGE_PUBLIC_URL="http://[::1]:8000",
    )
    assert settings.stripe_api_base == "http://localhost:8200"


def test_secrets_never_appear_in_repr_or_description():
    settings = settings_with(
        BRIDGE_ADMIN_TOKEN="admin-token-0123456789",
        BRIDGE_DATABASE_URL="postgresql://bridge:db-password@db/bridge",
    )
    shown = repr(settings) + str(settings.describe())
    for secret in ("caspio-very-secret-value", "sk_test_51abcdefghijklmnop", "whsec_first",
                   "admin-token-0123456789", "db-password"):
        assert secret not in shown
    described = dict(settings.describe())
    assert described["STRIPE_SECRET_KEY"] == "sk_test_****mnop"
    assert described["BRIDGE_DATABASE_URL"] == "postgresql://bridge:****@db/bridge"


def test_env_file_is_read_and_environment_wins(tmp_path: Path):
    env_file = tmp_path / ".env"
    lines = [f"{k}={v}" for k, v in VALID.items()]
    env_file.write_text("# comment\nexport " + "\n".join(lines) + '\nCASPIO_API_VERSION="v2"\n')
    settings = Settings.from_env({"CASPIO_CLIENT_ID": "from-environment"}, env_file=env_file)
    assert settings.caspio_api_version == "v2"
    assert settings.caspio_client_id == "from-environment"


def test_malformed_env_file_line_is_named(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text("CASPIO_CLIENT_ID=x\nthis is not a setting\n")
    with pytest.raises(SettingsError, match=r"\.env line 2"):
        Settings.from_env({}, env_file=env_file)


def test_env_file_values_are_taken_literally_quoted_or_with_a_trailing_comment(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_text(
        "CASPIO_CLIENT_SECRET='pa$$word#1 ${HOME}'\n"  # quoted: $, # and ${} stay as written
        "BRIDGE_SUCCESS_URL=https://example.com/ok  # where checkout returns\n"
        "NAME_WITHOUT_VALUE\n"
    )
    with pytest.raises(SettingsError, match=r"\.env line 3"):
        Settings.from_env({}, env_file=env_file)
    env_file.write_text("\n".join(env_file.read_text().splitlines()[:2]) + "\n")
    values = {**VALID}
    del values["CASPIO_CLIENT_SECRET"]
    settings = Settings.from_env(values, env_file=env_file)
    assert settings.caspio_client_secret.reveal() == "pa$$word#1 ${HOME}"
    assert settings.bridge_success_url == "https://example.com/ok"


def test_for_tests_wraps_secrets():
    settings = Settings.for_tests(
        stripe_secret_key="sk_test_other", stripe_webhook_secrets=["whsec_a"]
    )
    assert isinstance(settings.stripe_secret_key, Secret)
    assert settings.stripe_webhook_secrets == (Secret("whsec_a"),)


def test_the_shipped_env_example_is_valid():
    example = Path(__file__).resolve().parents[3] / ".env.example"
    settings = Settings.from_env({}, env_file=example)
    assert settings.caspio_account_url == "http://127.0.0.1:8101"
    assert settings.stripe_api_base == "http://127.0.0.1:8201"


def test_poll_seconds_is_off_by_default_and_checked():
    assert settings_with().bridge_poll_seconds is None
    assert settings_with(BRIDGE_POLL_SECONDS="60").bridge_poll_seconds == 60
    assert ("BRIDGE_POLL_SECONDS", "60") in settings_with(BRIDGE_POLL_SECONDS="60").describe()
    for bad in ("0", "-5", "1.5", "soon", "86401"):
        with pytest.raises(SettingsError, match="BRIDGE_POLL_SECONDS"):
            settings_with(BRIDGE_POLL_SECONDS=bad)
