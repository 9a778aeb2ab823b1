"""Settings faults from issue #11: secrets masked to a short fixed suffix (fault 2), malformed
values one line naming the variable with exit 2, judged alike by every command (fault 5)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from connector.settings import SHOWN_SUFFIX, Secret, Settings, SettingsError
from tests.unit.connector.test_settings import VALID, settings_with

# 40 characters with underscores: the old masking kept everything after the second one.
LONG = "Ab_cD_efGhIjKlMnOpQrStUvWxYz0123456789_Z"


def _revealed_characters(secret: str, shown: str) -> int:
    """The longest run of the secret (after any public prefix) visible in `shown`."""
    body = secret
    for prefix in ("sk_test_", "whsec_"):
        if secret.startswith(prefix):
            body = secret[len(prefix):]
    return max(
        (j - i for i in range(len(body)) for j in range(i + 1, len(body) + 1)
         if body[i:j] in shown),
        default=0,
    )


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("CASPIO_CLIENT_SECRET", LONG),
        ("CASPIO_WEBHOOK_SECRET", LONG),
        ("BRIDGE_ADMIN_TOKEN", LONG),
        ("BRIDGE_LINK_SECRET", LONG),
        ("STRIPE_SECRET_KEY", "sk_test_" + LONG.replace("_", "x") + "_9"),
        ("STRIPE_WEBHOOK_SECRET", "whsec_" + LONG),
    ],
)
def test_a_long_secret_shows_at_most_a_short_fixed_suffix(variable, value):
    settings = settings_with(**{variable: value})
    shown = dict(settings.describe())[variable]
    assert _revealed_characters(value, shown) <= SHOWN_SUFFIX, shown
    assert _revealed_characters(value, repr(settings)) <= SHOWN_SUFFIX


def test_a_short_secret_shows_nothing_and_the_kind_prefix_stays():
    assert Secret("shortsecret_12").masked() == "****"
    assert Secret("whsec_" + "a" * 32 + "WXYZ").masked() == "whsec_****WXYZ"
    assert Secret("sk_live_" + "a" * 20 + "1234").masked() == "sk_live_****1234"


MALFORMED = [
    ("BRIDGE_DATABASE_URL", "postgresql://bridge:pw@db:notaport/x"),
    ("BRIDGE_DATABASE_URL", "postgresql://postgres@[::1/x"),
    ("BRIDGE_DATABASE_URL", "postgresql://db:99999/x"),
    ("BRIDGE_PUBLIC_URL", "http://[::1"),
    ("BRIDGE_PUBLIC_URL", "https://bridge.example.com:port/"),
    ("CASPIO_ACCOUNT_URL", "http://127.0.0.1:notaport"),
    ("STRIPE_API_BASE", "http://127.0.0.1:70000"),
    ("BRIDGE_SUCCESS_URL", "https://[fe80::1/done"),
    ("BRIDGE_ALLOWED_ORIGINS", "https://app.example.com,http://[::1]:x"),
]


@pytest.mark.parametrize(("variable", "value"), MALFORMED)
def test_a_malformed_address_is_one_line_naming_the_variable(variable, value):
    with pytest.raises(SettingsError) as caught:
        settings_with(**{variable: value})
    assert caught.value.variable == variable
    assert "\n" not in str(caught.value) and "pw" not in str(caught.value)


@pytest.fixture
def bad_files(tmp_path: Path) -> Path:
    (tmp_path / "binary.yaml").write_bytes(b"\x00\xff\xfe\x00tables:\x80\n")
    (tmp_path / "deep.yaml").write_text("tables: " + "[" * 5000 + "]" * 5000 + "\n")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    (tmp_path / "unknown.yaml").write_text("version: 1\ntables:\n  NoSuchTable: {}\n")
    return tmp_path


@pytest.mark.parametrize("name", ["binary.yaml", "deep.yaml", "list.yaml", "unknown.yaml"])
def test_a_bad_mapping_file_is_refused_by_the_settings(bad_files, name):
    with pytest.raises(SettingsError) as caught:
        settings_with(BRIDGE_MAPPING=str(bad_files / name))
    assert caught.value.variable == "BRIDGE_MAPPING"
    assert "\n" not in str(caught.value)


def test_a_binary_env_file_is_one_line(tmp_path: Path):
    env_file = tmp_path / ".env"
    env_file.write_bytes(b"CASPIO_CLIENT_ID=\xff\xfe\n")
    with pytest.raises(SettingsError, match=r"^\.env: is not UTF-8 text$"):
        Settings.from_env({}, env_file=env_file)


CASES = [*MALFORMED, ("BRIDGE_MAPPING", "binary.yaml"), ("BRIDGE_MAPPING", "deep.yaml")]


@pytest.mark.parametrize(
    "command", [["check-config", "--offline"], ["serve"], ["worker", "--once"]]
)
@pytest.mark.parametrize(("variable", "value"), CASES)
def test_every_command_stops_with_one_line_and_exit_2(
    monkeypatch, bad_files, command, variable, value
):
    monkeypatch.chdir(bad_files)  # no .env here; mapping files by relative name

    def no_server(*args: object, **kwargs: object) -> None:
        raise AssertionError("the settings were accepted and a server started")

    monkeypatch.setattr("connector.commands.serve.run_gunicorn", no_server)
    env = {**VALID, "BRIDGE_DATABASE_URL": f"sqlite:///{bad_files / 'b.db'}", variable: value}
    for name in env:
        monkeypatch.setenv(name, env[name])
    result = CliRunner().invoke(main, command)
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"caspio-stripe: setting {variable}: "), lines
    assert "Traceback" not in result.output


def _serve(monkeypatch, tmp_path: Path, extra: dict[str, str], args: list[str]):
    """Run `serve` with valid settings plus `extra`; run_gunicorn records instead of serving."""
    started: list[dict[str, object]] = []
    monkeypatch.setattr(
        "connector.commands.serve.run_gunicorn", lambda options, load: started.append(options)
    )
    monkeypatch.chdir(tmp_path)
    env = {**VALID, "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'b.db'}", **extra}
    for name in env:
        monkeypatch.setenv(name, env[name])
    return CliRunner().invoke(main, ["serve", *args]), started


@pytest.mark.parametrize(
    ("variable", "value"),
    [("WEB_CONCURRENCY", "abc"), ("WEB_CONCURRENCY", "0"), ("WEB_CONCURRENCY", "-1"),
     ("WEB_CONCURRENCY", "1.5"), ("PORT", "abc"), ("PORT", "0"), ("PORT", "70000")],
)
def test_serve_refuses_a_malformed_gunicorn_variable_in_one_line(
    monkeypatch, tmp_path, variable, value
):
    result, started = _serve(monkeypatch, tmp_path, {variable: value}, [])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"caspio-stripe: setting {variable}: "), lines
    assert "Traceback" not in result.output and started == []


def test_serve_on_a_port_in_use_is_one_line_and_exit_2(monkeypatch, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result, started = _serve(monkeypatch, tmp_path, {}, ["--port", str(port)])
    assert result.exit_code == 2, (result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    expected = f"caspio-stripe: cannot listen on 127.0.0.1:{port}:"
    assert len(lines) == 1 and lines[0].startswith(expected), lines
    assert started == []


def test_serve_on_a_free_port_with_good_values_starts_gunicorn(monkeypatch, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    extra = {"WEB_CONCURRENCY": "2"}
    result, started = _serve(monkeypatch, tmp_path, extra, ["--port", str(port)])
    assert result.exit_code == 0, (result.output, result.exception)
    assert started[0]["bind"] == f"127.0.0.1:{port}" and started[0]["workers"] == 2
