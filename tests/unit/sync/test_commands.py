"""`caspio-stripe worker` and `caspio-stripe replay` through click, on a SQLite store."""

import json

import pytest
from click.testing import CliRunner

from connector.commands import replay, worker
from connector.store import Store
from connector.sync.inbox import DEAD, DONE, PENDING, EventEnvelope, Inbox
from tests.fixtures import stripe_events as se


@pytest.fixture
def env(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = f"sqlite:///{tmp_path}/bridge.db"
    values = {
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "secret",
        "STRIPE_SECRET_KEY": "sk_test_x",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": url,
    }
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    store = Store.from_url(url)
    yield store
    store.dispose()


def add(store, event):
    Inbox(store).record(EventEnvelope.parse(event), json.dumps(event), now=1.0, handled=True)


def test_worker_once_drains_what_is_ready(env):
    # an automatically charged invoice being created needs no Caspio or Stripe call
    add(env, se.event("invoice.created", se.invoice("in_1", status="draft"), 100, "evt_1"))
    result = CliRunner().invoke(worker.command, ["--once"])
    assert result.exit_code == 0, result.output
    assert "processed 1 event(s): 1 done, 0 to retry, 0 dead" in result.output
    assert Inbox(env).get("evt_1")["status"] == DONE


def test_replay_lists_and_requeues_dead_events(env):
    add(env, se.event("invoice.paid", se.invoice("in_1"), 100, "evt_dead"))
    inbox = Inbox(env)
    inbox.claim("w", now=2.0, lease_seconds=10, limit=1)
    inbox.kill("evt_dead", "w", now=3.0, error="CaspioServerError: down", traceback_text="tb")

    listed = CliRunner().invoke(replay.command, ["--list"])
    assert listed.exit_code == 0
    assert "evt_dead  invoice.paid  attempts=1  CaspioServerError: down" in listed.output
    assert inbox.get("evt_dead")["status"] == DEAD

    replayed = CliRunner().invoke(replay.command, ["--event-id", "evt_dead"])
    assert replayed.exit_code == 0
    assert "requeued 1 event(s)" in replayed.output
    assert inbox.get("evt_dead")["status"] == PENDING


def test_replay_of_an_unknown_event_fails_with_one_line(env):
    result = CliRunner().invoke(replay.command, ["--event-id", "evt_nope"])
    assert result.exit_code == 1
    assert "no such event in the inbox: evt_nope" in result.output
