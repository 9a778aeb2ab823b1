"""How many gunicorn processes serve the bridge: WEB_CONCURRENCY when set, else one on
SQLite and two on PostgreSQL (bench/intake.py measured why; connector/gunicorn_conf.py)."""

from __future__ import annotations

import pytest

from connector.gunicorn_conf import default_web_processes, options


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("WEB_CONCURRENCY", raising=False)
    monkeypatch.delenv("BRIDGE_DATABASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)  # no .env unless a test writes one


@pytest.mark.parametrize(
    ("url", "processes"),
    [
        (None, 1),  # unset: the default SQLite file
        ("sqlite:///bridge.db", 1),
        ("sqlite://", 1),
        ("postgresql://bridge@db:5432/bridge", 2),
        ("postgres://bridge@db/bridge", 2),
        ("postgresql+psycopg://bridge@db/bridge", 2),
        ("  PostgreSQL://bridge@db/bridge", 2),
    ],
)
def test_the_store_decides_the_default(url, processes):
    assert default_web_processes(url) == processes
    assert options(database_url=url)["workers"] == processes


def test_the_environment_and_then_dot_env_name_the_store(monkeypatch, tmp_path):
    assert default_web_processes() == 1
    (tmp_path / ".env").write_text("BRIDGE_DATABASE_URL=postgresql://bridge@db/bridge\n")
    assert default_web_processes() == 2
    monkeypatch.setenv("BRIDGE_DATABASE_URL", "sqlite:///bridge.db")  # the environment wins
    assert default_web_processes() == 1


def test_web_concurrency_overrides_the_default(monkeypatch):
    monkeypatch.setenv("WEB_CONCURRENCY", "3")
    assert options(database_url="sqlite:///bridge.db")["workers"] == 3
    assert options(database_url="postgresql://bridge@db/bridge")["workers"] == 3
