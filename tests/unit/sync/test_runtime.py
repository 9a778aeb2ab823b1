import json
import time
from types import SimpleNamespace

from connector import migrations
from connector.metrics import BridgeMetrics
from connector.settings import Settings
from connector.stripe_gateway import StripeGateway
from connector.sync.inbox import DONE, EventEnvelope, Inbox
from connector.sync.runtime import start_background_worker
from tests.fixtures import stripe_events as se
from tests.unit.sync.fakes import FakeCaspio


def services(store):
    settings = Settings.for_tests()
    return SimpleNamespace(
        settings=settings,
        store=store,
        mapping=None,  # the default mapping is loaded on first use
        caspio=FakeCaspio(),
        stripe=StripeGateway("sk_test_x", api_base="http://127.0.0.1:9"),
        metrics=BridgeMetrics(),
    )


def test_the_background_worker_processes_the_inbox_and_stops(store):
    event = se.event("invoice.created", se.invoice("in_1", status="draft"), 100, "evt_1")
    Inbox(store).record(
        EventEnvelope.parse(event), json.dumps(event), now=time.time(), handled=True
    )
    bundle = services(store)
    bundle.metrics.watch_inbox(lambda: store)
    handle = start_background_worker(bundle, idle_wait=0.05)
    try:
        assert handle.caught_up.wait(10)
        assert Inbox(store).get("evt_1")["status"] == DONE
    finally:
        handle.stop()
    assert not handle.alive
    registry = bundle.metrics.registry
    labels = {"type": "invoice.created"}
    assert registry.get_sample_value("bridge_events_processed_total", labels) == 1
    assert registry.get_sample_value("bridge_event_processing_seconds_count", labels) == 1
    assert registry.get_sample_value(
        "bridge_inbox_events", {"type": "invoice.created", "status": "done"}
    ) == 1


def test_the_store_is_opened_from_the_settings_when_missing(tmp_path):
    bundle = services(None)
    bundle.settings = Settings.for_tests(bridge_database_url=f"sqlite:///{tmp_path}/lazy.db")
    from connector.sync.runtime import store_of

    opened = store_of(bundle)
    assert store_of(bundle) is opened
    assert opened.schema_revision() == migrations.head_revision()
    opened.dispose()
