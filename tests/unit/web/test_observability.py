"""/healthz, /readyz and /metrics of the real app (create_app), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from typing import Any

import pytest
from flask import Flask
from prometheus_client.parser import text_string_to_metric_families

from caspio_client import CaspioClient
from connector.app import create_app
from connector.logs import ContextFilter, JsonFormatter, log_context
from connector.services import Services
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.sync.signature import signature_header
from connector.sync.worker import Worker
from tests.fixtures import stripe_events as se

SECRET = "whsec_observed"


def make_app(store: Store, **settings: Any) -> tuple[Flask, Services]:
    config = Settings.for_tests(stripe_webhook_secrets=(SECRET,), **settings)
    services = Services(
        settings=config,
        caspio=CaspioClient("http://127.0.0.1:9", "id", "secret", max_attempts=1),
        stripe=StripeGateway("sk_test_x", api_base="http://127.0.0.1:9"),
        store=store,
    )
    return create_app(config, services=services), services


def samples(app: Flask) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    response = app.test_client().get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    parsed = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            parsed[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return parsed


def deliver(app: Flask, event: dict[str, Any], secret: str = SECRET) -> int:
    body = json.dumps(event).encode()
    header = signature_header(secret, int(time.time()), body)
    response = app.test_client().post(
        "/stripe/webhook",
        data=body,
        headers={"Stripe-Signature": header},
        content_type="application/json",
    )
    return response.status_code


class _StoreGone:
    """Takes the store's tables away and brings them back (SQLite file or PostgreSQL schema)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.aside = ""

    def __enter__(self) -> None:
        if self.store.is_postgres:
            schema = self._schema()
            with self.store.transaction() as conn:
                conn.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_gone"')
        else:
            path = self.store.engine.url.database or ""
            self.store.engine.dispose()
            self.aside = path + ".aside"
            shutil.move(path, self.aside)
            for suffix in ("-wal", "-shm"):
                if os.path.exists(path + suffix):
                    shutil.move(path + suffix, self.aside + suffix)

    def __exit__(self, *exc: object) -> None:
        if self.store.is_postgres:
            schema = self._schema()
            with self.store.engine.connect() as conn:
                conn.exec_driver_sql(f'ALTER SCHEMA "{schema}_gone" RENAME TO "{schema}"')
                conn.commit()
        else:
            path = self.store.engine.url.database or ""
            self.store.engine.dispose()
            for suffix in ("", "-wal", "-shm"):
                if os.path.exists(path + suffix):
                    os.remove(path + suffix)
                if os.path.exists(self.aside + suffix):
                    shutil.move(self.aside + suffix, path + suffix)

    def _schema(self) -> str:
        options = self.store.engine.url.query.get("options", "")
        text = options if isinstance(options, str) else options[0]
        return text.split("search_path=")[1]


def test_healthz_answers_without_the_store(store):
    app, _ = make_app(store)
    with _StoreGone(store):
        assert app.test_client().get("/healthz").status_code == 200


def test_readyz_is_503_with_the_store_gone_and_200_when_it_is_back(store):
    app, _ = make_app(store)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    with _StoreGone(store):
        gone = client.get("/readyz")
        assert gone.status_code == 503
        assert gone.get_json()["reasons"]["store"].startswith("store unreachable")
        # /metrics still answers (it answered 500 before) and says the store is down
        assert samples(app)[("bridge_store_up", ())] == 0.0
    back = client.get("/readyz")
    assert back.status_code == 200, back.get_json()
    assert back.get_json() == {
        "status": "ready",
        "checks": {"store": "ok", "stripe_api_version": "ok"},
    }
    assert samples(app)[("bridge_store_up", ())] == 1.0


def test_a_store_that_cannot_be_opened_is_not_ready(tmp_path):
    # No store yet: it is opened on first use from a path whose folder does not exist.
    config = Settings.for_tests(bridge_database_url=f"sqlite:///{tmp_path}/missing/dir/b.db")
    services = Services(
        settings=config,
        caspio=CaspioClient("http://127.0.0.1:9", "id", "secret", max_attempts=1),
        stripe=StripeGateway("sk_test_x", api_base="http://127.0.0.1:9"),
    )
    app = create_app(config, services=services)
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert "store" in response.get_json()["reasons"]
    assert app.test_client().get("/metrics").status_code == 200


def test_readyz_is_503_while_the_backlog_is_over_the_threshold(store):
    app, _ = make_app(store, bridge_ready_max_backlog=2)
    for n in range(3):
        obj = se.invoice(f"in_{n}", status="draft")
        assert deliver(app, se.event("invoice.created", obj, 100 + n, f"evt_b{n}")) == 200
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == {"store": "inbox backlog 3 over 2"}


def test_registered_checks_and_a_stopped_worker_make_readyz_503(store):
    app, services = make_app(store)
    services.readiness.register("stripe_api_version", lambda: "endpoint on 2024-06-20")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["reasons"] == {"stripe_api_version": "endpoint on 2024-06-20"}
    services.readiness.unregister("stripe_api_version")

    from connector.sync.runtime import start_background_worker

    handle = start_background_worker(services, idle_wait=0.05)
    try:
        assert handle.caught_up.wait(10)
        assert app.test_client().get("/readyz").status_code == 200
    finally:
        handle.stop()
    stopped = app.test_client().get("/readyz")
    assert stopped.status_code == 503
    assert stopped.get_json()["reasons"] == {"worker": "worker thread stopped"}


def test_a_check_that_raises_is_a_reason_not_a_500(store):
    app, services = make_app(store)

    def broken() -> str | None:
        raise RuntimeError("boom")

    services.readiness.register("broken", broken)
    response = app.test_client().get("/readyz")
    assert (response.status_code, response.get_json()["reasons"]) == (
        503,
        {"broken": "RuntimeError"},
    )


def test_metrics_parse_and_counters_move_as_events_flow(store):
    from connector.sync.runtime import build_worker

    app, services = make_app(store)
    before = samples(app)
    assert ("bridge_inbox_backlog", ()) in before
    paid = se.invoice("in_paid", status="paid", amount_paid=2000)
    assert deliver(app, se.event("invoice.created", se.invoice("in_d", status="draft"), 10)) == 200
    assert (
        deliver(app, se.event("customer.created", {"id": "cus_Z", "object": "customer"}, 11)) == 200
    )
    duplicate = se.event("invoice.created", se.invoice("in_e", status="draft"), 12, "evt_dup")
    assert deliver(app, duplicate) == 200 and deliver(app, duplicate) == 200
    assert deliver(app, se.event("invoice.paid", paid, 13), secret="whsec_wrong") == 400

    after = samples(app)
    assert after[("bridge_events_received_total", (("type", "invoice.created"),))] == 2
    assert after[("bridge_events_duplicate_total", (("type", "invoice.created"),))] == 1
    assert after[("bridge_webhooks_rejected_total", (("reason", "bad_signature"),))] == 1
    ignored = (
        "bridge_events_ignored_total",
        (("reason", "unhandled_type"), ("type", "customer.created")),
    )
    assert after[ignored] == 1
    assert after[("bridge_inbox_backlog", ())] == 2
    assert after[("bridge_inbox_oldest_pending_age_seconds", ())] >= 0

    worker: Worker = build_worker(services)
    assert worker.run_until_idle() == 2
    done = samples(app)
    processed = ("bridge_events_processed_total", (("type", "invoice.created"),))
    assert done[processed] == 2
    assert done[("bridge_event_processing_seconds_count", (("type", "invoice.created"),))] == 2
    assert done[("bridge_inbox_backlog", ())] == 0
    assert done[("bridge_inbox_oldest_pending_age_seconds", ())] == 0


def test_caspio_and_stripe_calls_and_caspio_retries_are_exported(store):
    app, services = make_app(store)
    services.caspio.meter.record("GET", "Billing_Payments", 429)
    services.caspio.meter.record("GET", "Billing_Payments", 200)
    services.stripe.meter.record("GET", "/v1/invoices", 200)
    for hook in services.caspio.retry_policy.on_retry:
        hook(type("CaspioRateLimited", (Exception,), {"status": 429})(), 1.5)
    got = samples(app)
    calls = (("operation", "GET"), ("status", "429"), ("target", "Billing_Payments"))
    assert got[("bridge_caspio_calls_total", calls)] == 1
    assert got[("bridge_caspio_rate_limited_calls_total", ())] == 1
    stripe_calls = (("operation", "GET"), ("status", "200"), ("target", "/v1/invoices"))
    assert got[("bridge_stripe_calls_total", stripe_calls)] == 1
    assert (
        got[("bridge_api_retries_total", (("api", "caspio"), ("reason", "CaspioRateLimited")))] == 1
    )
    assert got[("bridge_rate_limit_waits_total", (("api", "caspio"),))] == 1
    assert got[("bridge_rate_limit_wait_seconds_total", (("api", "caspio"),))] == 1.5


def test_two_apps_in_one_process_keep_separate_metrics(store):
    first, _ = make_app(store)
    second, _ = make_app(store)
    assert deliver(first, se.event("invoice.created", se.invoice("in_1", status="draft"), 1)) == 200
    key = ("bridge_events_received_total", (("type", "invoice.created"),))
    assert samples(first)[key] == 1
    assert key not in samples(second)


def test_json_logs_carry_event_and_invoice_ids_and_the_caspio_request_id():
    from caspio_client.errors import CaspioServerError

    record = logging.LogRecord(
        "connector.sync.worker", logging.ERROR, __file__, 1, "failed %s", ("x",), None
    )
    try:
        raise CaspioServerError("down", status=503, request_id="req-42", method="PUT", table="T")
    except CaspioServerError:
        import sys

        record.exc_info = sys.exc_info()
    event = se.event("invoice.payment_failed", se.invoice("in_77"), 5, "evt_77")
    from connector.logs import event_log_fields

    with log_context(**event_log_fields(event)):
        ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "failed x" and line["level"] == "error"
    assert (line["event_id"], line["event_type"], line["invoice_id"]) == (
        "evt_77",
        "invoice.payment_failed",
        "in_77",
    )
    assert line["caspio_request_id"] == "req-42"
    # outside the block nothing is bound
    fresh = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    ContextFilter().filter(fresh)
    assert "event_id" not in json.loads(JsonFormatter().format(fresh))


def test_the_worker_logs_with_the_event_context(store, caplog):
    from connector.sync.inbox import EventEnvelope, Inbox

    class Failing:
        def dispatch(self, event: dict[str, Any]) -> str:
            logging.getLogger("connector.test").warning("handler trouble")
            raise ValueError("nope")

    event = se.event("invoice.paid", se.invoice("in_9", status="paid"), 5, "evt_9")
    Inbox(store).record(
        EventEnvelope.parse(event), json.dumps(event), now=time.time(), handled=True
    )
    worker = Worker(store, Failing(), max_attempts=1)
    caplog.handler.addFilter(ContextFilter())
    with caplog.at_level(logging.WARNING):
        worker.run_until_idle()
    trouble = [r for r in caplog.records if r.getMessage() == "handler trouble"]
    assert trouble and trouble[0].event_id == "evt_9" and trouble[0].invoice_id == "in_9"
    assert (
        worker.metrics.registry.get_sample_value(
            "bridge_events_dead_total", {"type": "invoice.paid"}
        )
        == 1
    )


@pytest.mark.parametrize("value", ["json", "JSON"])
def test_the_log_format_setting(value):
    from connector.settings import Settings as S

    env = {
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "secret",
        "STRIPE_SECRET_KEY": "sk_test_x1",
        "STRIPE_WEBHOOK_SECRET": "whsec_x",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_LOG_FORMAT": value,
        "BRIDGE_READY_MAX_BACKLOG": "50",
    }
    settings = S.from_env(env, env_file=None)
    assert (settings.bridge_log_format, settings.bridge_ready_max_backlog) == ("json", 50)
    from connector.settings import SettingsError

    with pytest.raises(SettingsError, match="BRIDGE_LOG_FORMAT"):
        S.from_env({**env, "BRIDGE_LOG_FORMAT": "xml"}, env_file=None)
    with pytest.raises(SettingsError, match="BRIDGE_READY_MAX_BACKLOG"):
        S.from_env({**env, "BRIDGE_READY_MAX_BACKLOG": "-1"}, env_file=None)


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_sqlite_file_is_not_ready_and_webhooks_get_503(store, how):
    if store.is_postgres:
        pytest.skip("a database file is SQLite's")
    app, _ = make_app(store)
    client = app.test_client()
    assert client.get("/readyz").status_code == 200
    assert deliver(app, se.event("invoice.created", se.invoice("in_f1", status="draft"), 10)) == 200
    path = store.engine.url.database or ""
    # The engine keeps its open connections: writes would go to the unlinked file.
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    if how == "replaced":
        with open(path, "wb"):
            pass
    answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.get_json()["reasons"]["store"] == f"store unreachable: database file {how}"
    assert deliver(app, se.event("invoice.created", se.invoice("in_f2", status="draft"), 11)) == 503
