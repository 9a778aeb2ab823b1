"""/metrics across processes (connector.metrics with connector.gunicorn_conf's hooks): the
switch into prometheus_client's multiprocess mode, the run's private folder, the sums over
processes, and single-process use left as it was."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace

import pytest
from prometheus_client import values
from prometheus_client.parser import text_string_to_metric_families

from caspio_client.metering import CallMeter
from connector import gunicorn_conf
from connector import metrics as metrics_module
from connector.metrics import MULTIPROCESS_ENV, BridgeMetrics, multiprocess_directory
from tests.fixtures import stripe_events as se
from tests.unit.web.test_observability import deliver, make_app

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Path]:
    """This test's changes to the process-wide mode are undone afterwards: the value class,
    the environment variable, the shared instruments, the folders made, the temp folder."""
    monkeypatch.setattr(values, "ValueClass", values.ValueClass)
    monkeypatch.setenv(MULTIPROCESS_ENV, "")
    monkeypatch.delenv(MULTIPROCESS_ENV)
    monkeypatch.setattr(metrics_module, "_process_instruments", None)
    monkeypatch.setattr(gunicorn_conf, "_created_metrics_dirs", [])
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    yield tmp_path
    values.close_all_multiprocess_files()


def parsed(text: str | bytes) -> dict[str, list[tuple[dict[str, str], float]]]:
    """sample name -> [(labels, value)], every sample kept (a doubled one would show)."""
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    body = text.decode() if isinstance(text, bytes) else text
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def test_without_the_hook_counts_stay_in_each_app(isolated):
    assert multiprocess_directory() is None
    first, second = BridgeMetrics(), BridgeMetrics()
    first.received("invoice.created")
    assert not first.multiprocess
    assert first.registry.get_sample_value(
        "bridge_events_received_total", {"type": "invoice.created"}) == 1
    assert second.registry.get_sample_value(
        "bridge_events_received_total", {"type": "invoice.created"}) is None
    assert list(isolated.iterdir()) == []


def test_the_variable_alone_after_import_does_not_switch_the_mode(isolated, monkeypatch):
    """prometheus_client chose in-memory values at import: files would stay empty, so the
    bridge keeps counting in memory rather than export nothing."""
    monkeypatch.setenv(MULTIPROCESS_ENV, str(isolated))
    assert multiprocess_directory() is None
    assert not BridgeMetrics().multiprocess


def test_on_starting_gives_each_server_run_a_fresh_private_folder(isolated):
    gunicorn_conf.on_starting(None)
    directory = os.environ[MULTIPROCESS_ENV]
    assert Path(directory).parent == isolated and Path(directory).is_dir()
    assert multiprocess_directory() == directory
    assert BridgeMetrics().multiprocess
    # A second bridge on the machine (another master, started without the variable) gets
    # a folder of its own.
    del os.environ[MULTIPROCESS_ENV]
    other = gunicorn_conf.metrics_directory()
    assert other != directory
    gunicorn_conf.on_exit(None)
    assert not Path(directory).exists() and not Path(other).exists()


def test_an_operators_folder_is_used_emptied_of_old_files_and_kept(isolated, monkeypatch):
    given = isolated / "theirs"
    given.mkdir()
    (given / "counter_4242.db").write_bytes(b"an earlier run")
    (given / "notes.txt").write_text("not prometheus_client's")
    monkeypatch.setenv(MULTIPROCESS_ENV, str(given))
    gunicorn_conf.on_starting(None)
    assert os.environ[MULTIPROCESS_ENV] == str(given) == multiprocess_directory()
    assert sorted(p.name for p in given.iterdir()) == ["notes.txt"]
    gunicorn_conf.on_exit(None)
    assert given.is_dir()


def test_an_operators_folder_is_created_when_missing(isolated, monkeypatch):
    given = isolated / "not" / "yet"
    monkeypatch.setenv(MULTIPROCESS_ENV, str(given))
    gunicorn_conf.on_starting(None)
    assert given.is_dir()


CHILD = """
from caspio_client.metering import CallMeter
from connector.metrics import BridgeMetrics

metrics = BridgeMetrics()
assert metrics.multiprocess
meter = CallMeter()
metrics.watch_calls("caspio", meter)
meter.record("GET", "Billing_Payments", 429)
meter.record("GET", "Billing_Payments", 200)
for _ in range(3):
    metrics.received("invoice.created")
metrics.processed("invoice.created", 0.2)
"""


def test_every_process_counts_are_summed_and_store_gauges_read_once(isolated, store):
    gunicorn_conf.on_starting(None)
    app, services = make_app(store)
    for n in range(2):
        event = se.event("invoice.created", se.invoice(f"in_{n}", status="draft"), n + 1)
        assert deliver(app, event) == 200
    services.caspio.meter.record("GET", "Billing_Payments", 429)
    # Another process of the server counts, and exits: its counts stay in the sums.
    subprocess.run([sys.executable, "-c", CHILD], cwd=ROOT, check=True, timeout=120,
                   env={**os.environ, MULTIPROCESS_ENV: os.environ[MULTIPROCESS_ENV]})

    got = parsed(app.test_client().get("/metrics").get_data())
    assert got["bridge_events_received_total"] == [({"type": "invoice.created"}, 5.0)]
    assert got["bridge_events_processed_total"] == [({"type": "invoice.created"}, 1.0)]
    assert got["bridge_event_processing_seconds_count"] == [({"type": "invoice.created"}, 1.0)]
    calls = sorted((labels["status"], value) for labels, value in got["bridge_caspio_calls_total"])
    assert calls == [("200", 1.0), ("429", 2.0)]
    assert got["bridge_caspio_rate_limited_calls_total"] == [({}, 2.0)]
    # From the store, by the answering process only.
    assert got["bridge_inbox_backlog"] == [({}, 2.0)]
    assert got["bridge_store_up"] == [({}, 1.0)]


def test_two_metrics_in_one_process_count_together_not_over_each_other(isolated):
    """In multiprocess mode two Counter objects over one file entry would each write their
    own total (the last writer wins): a process's BridgeMetrics share their instruments."""
    gunicorn_conf.on_starting(None)
    first, second = BridgeMetrics(), BridgeMetrics()
    first.received("invoice.paid")
    first.received("invoice.paid")
    second.received("invoice.paid")
    meter = CallMeter()
    first.watch_calls("stripe", meter)
    second.watch_calls("stripe", meter)  # the same meter: its calls count once
    meter.record("POST", "/v1/invoices/{id}/pay", 200)
    for metrics in (first, second):
        got = parsed(metrics.exposition())
        assert got["bridge_events_received_total"] == [({"type": "invoice.paid"}, 3.0)]
        assert got["bridge_stripe_calls_total"] == [
            ({"operation": "POST", "target": "/v1/invoices/{id}/pay", "status": "200"}, 1.0)
        ]


def test_child_exit_does_prometheus_clients_bookkeeping_for_the_dead_process(isolated):
    gunicorn_conf.on_starting(None)
    directory = Path(os.environ[MULTIPROCESS_ENV])
    live = directory / "gauge_livesum_4242.db"
    kept = directory / "counter_4242.db"
    live.write_bytes(b"")
    kept.write_bytes(b"")
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=4242))
    assert not live.exists() and kept.exists()


def test_child_exit_without_the_mode_does_nothing(isolated):
    gunicorn_conf.child_exit(None, SimpleNamespace(pid=4242))
    assert list(isolated.iterdir()) == []


def test_a_meter_reset_does_not_move_the_exported_counters_back(isolated):
    metrics, meter = BridgeMetrics(), CallMeter()
    metrics.watch_calls("caspio", meter)
    meter.record("GET", "Billing_Plans", 200)
    meter.reset()
    meter.record("GET", "Billing_Plans", 200)
    labels = {"operation": "GET", "target": "Billing_Plans", "status": "200"}
    assert metrics.registry.get_sample_value("bridge_caspio_calls_total", labels) == 2


def test_serve_and_the_deploy_config_install_the_hooks():
    settings = gunicorn_conf.options()
    loaded = runpy.run_path(str(ROOT / "deploy" / "gunicorn.conf.py"))
    for hook in ("on_starting", "child_exit", "on_exit"):
        assert settings[hook] is getattr(gunicorn_conf, hook)
        assert loaded[hook] is getattr(gunicorn_conf, hook)


def test_a_killed_masters_metrics_folder_is_removed_by_the_next_start(tmp_path):
    """A SIGKILLed server never runs on_exit: its private folder (named after its master's
    pid) is removed when a later server starts; live and unnamed folders stay."""
    import os
    import subprocess
    import sys

    from connector.gunicorn_conf import METRICS_DIR_PREFIX, remove_orphaned_metrics_dirs

    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(gone.stdout)
    dead = tmp_path / f"{METRICS_DIR_PREFIX}{dead_pid}-abc"
    alive = tmp_path / f"{METRICS_DIR_PREFIX}{os.getpid()}-def"
    unnamed = tmp_path / f"{METRICS_DIR_PREFIX}xyz"
    for folder in (dead, alive, unnamed):
        folder.mkdir()
        (folder / "counter_1.db").write_bytes(b"")
    assert remove_orphaned_metrics_dirs(str(tmp_path)) == [str(dead)]
    assert not dead.exists() and alive.exists() and unnamed.exists()
