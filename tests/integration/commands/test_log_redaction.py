"""No log level shows a secret (issue #11, fault 3): `--log-level debug stripe setup-webhook`
wrote the new signing secret to the log, through stripe-python's response-body logging."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

from connector import redaction
from connector.settings import Settings

LEVELS = ["debug", "info", "warning", "error"]


def run_cli(args: list[str], env: dict[str, str], cwd) -> subprocess.CompletedProcess[str]:
    """The real command in its own process: logging configured as a user gets it."""
    return subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "caspio-stripe"), *args],
        env={"PATH": os.environ.get("PATH", ""), **env},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("stripe_log", [None, "debug"])
def test_setup_webhook_logs_no_secret_at_any_level(tmp_path, stripe_emulator, level, stripe_log):
    env = {
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "caspio-client-secret-0123456789",
        "STRIPE_SECRET_KEY": stripe_emulator.api_key,
        "STRIPE_API_BASE": stripe_emulator.base_url,
        "STRIPE_WEBHOOK_SECRET": "whsec_configuredsecret0123456789",
        "BRIDGE_PUBLIC_URL": f"http://127.0.0.1:{8700 + LEVELS.index(level)}",
        "BRIDGE_ADMIN_TOKEN": "admin-token-0123456789abcdef",
    }
    if stripe_log:
        env["STRIPE_LOG"] = stripe_log
    result = run_cli(["--log-level", level, "stripe", "setup-webhook"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    created = result.stdout.strip().splitlines()[-1]
    assert created.startswith("whsec_")  # printed once, on stdout, as the command promises
    if level == "debug":
        assert "stripe" in result.stderr  # the library did log its calls
    for secret in (created, env["STRIPE_SECRET_KEY"], env["STRIPE_WEBHOOK_SECRET"],
                   env["CASPIO_CLIENT_SECRET"], env["BRIDGE_ADMIN_TOKEN"]):
        assert secret not in result.stderr
    assert "whsec_" not in result.stderr


@pytest.fixture
def redacting(caplog):
    redaction.install()
    redaction.register_settings(
        Settings.for_tests(
            caspio_client_secret="caspio-client-secret-0123456789",
            bridge_admin_token="admin-token-0123456789abcdef",
            bridge_database_url="postgresql://bridge:db%2Fpass-0123@db/bridge",
        )
    )
    caplog.set_level(logging.DEBUG)
    return caplog


@pytest.mark.parametrize("level", [logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR])
def test_every_setting_secret_and_stripe_shaped_secret_is_redacted(redacting, level):
    log = logging.getLogger("some.library")
    log.log(level, "token %s and %s", "caspio-client-secret-0123456789",
            "admin-token-0123456789abcdef")
    log.log(level, "body={\"secret\": \"whsec_NEWsecret123\", \"key\": \"sk_live_abc123\"}")
    log.log(level, "client secret pi_3Abc_secret_XyZ and Authorization: Bearer eyJ.abc-1")
    log.log(level, "connecting to postgresql://bridge:db/pass-0123@db/bridge")
    text = "\n".join(r.getMessage() for r in redacting.records)
    for secret in ("caspio-client-secret-0123456789", "admin-token-0123456789abcdef",
                   "whsec_NEWsecret123", "sk_live_abc123", "pi_3Abc_secret_XyZ", "eyJ.abc-1",
                   "db/pass-0123"):
        assert secret not in text
    assert text.count("****") >= 7


def test_a_traceback_quoting_a_secret_is_redacted(redacting):
    try:
        raise RuntimeError("auth failed for caspio-client-secret-0123456789")
    except RuntimeError:
        logging.getLogger("x").exception("failed")
    [record] = redacting.records
    formatted = logging.Formatter().format(record)
    assert "caspio-client-secret" not in formatted and "****" in formatted


def test_records_without_secrets_are_untouched(redacting):
    logging.getLogger("x").info("event %s done", "evt_123")
    [record] = redacting.records
    assert (record.msg, record.args) == ("event %s done", ("evt_123",))
