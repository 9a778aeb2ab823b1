"""/metrics of a bridge served by several gunicorn processes (WEB_CONCURRENCY=2): a scrape
lands on any process, so each answer must count what every process counted, including
processes that have exited since, and must read the inbox gauges once (not once per
process)."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from connector.sync.signature import signature_header
from tests.fixtures import stripe_events as se

ROOT = Path(__file__).resolve().parents[3]
SECRET = "whsec_metrics_processes"
EVENTS = 40
CONNECTIONS = 8
SCRAPES = 6
PROCESSES = 2
APP = "connector.wsgi:create_app(run_worker=False)"

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(),
                                reason="finding gunicorn's worker processes needs /proc (Linux)")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def children(pid: int) -> set[int]:
    """Live (not zombie) child processes of `pid`: gunicorn's worker processes."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
        except OSError:
            continue
        if int(ppid) == pid and state != "Z":
            found.add(int(entry.name))
    return found


def poll(condition, what: str, timeout: float = 60.0):
    """Another process's state: polling is the only way to see it change."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        assert time.monotonic() < deadline, f"{what} within {timeout} s"
        time.sleep(0.1)


def serve_env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", ""),
        # The private metrics folder is made here, so the test can see it come and go.
        "TMPDIR": str(tmp_path),
        "WEB_CONCURRENCY": str(PROCESSES),
        "CASPIO_ACCOUNT_URL": "http://127.0.0.1:9",
        "CASPIO_CLIENT_ID": "id",
        "CASPIO_CLIENT_SECRET": "caspio-secret-value",
        "STRIPE_SECRET_KEY": "sk_test_unused",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_WEBHOOK_SECRET": SECRET,
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": database_url,
    }


@contextlib.contextmanager
def launch(command: list[str], url: str, env: dict[str, str], tmp_path: Path
           ) -> Iterator[int]:
    """Start `command` (it becomes gunicorn's master), wait for its worker processes and
    /healthz at `url`, give the master's pid; stop it with SIGTERM afterwards."""
    log = tmp_path / "server.log"
    with log.open("wb") as sink:  # a file, not a pipe: a full pipe would stall the server
        process = subprocess.Popen(command, env=env, cwd=ROOT, stdout=sink, stderr=sink,
                                   start_new_session=True)

    def up() -> bool:
        assert process.poll() is None, log.read_text()
        try:
            answered = requests.get(f"{url}/healthz", timeout=1).status_code == 200
        except requests.RequestException:
            return False
        return answered and len(children(process.pid)) == PROCESSES

    try:
        poll(up, "the server answers /healthz with its worker processes")
        yield process.pid
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 0, log.read_text()


def serve(tmp_path: Path, database_url: str):
    """`caspio-stripe serve --no-worker` with WEB_CONCURRENCY=2: its URL and launcher."""
    port = free_port()
    command = [str(Path(sys.executable).parent / "caspio-stripe"), "--log-level", "warning",
               "serve", "--port", str(port), "--no-worker"]
    url = f"http://127.0.0.1:{port}"
    return url, launch(command, url, serve_env(tmp_path, database_url), tmp_path)


def deliver(url: str, count: int, prefix: str) -> None:
    """`count` signed invoice.created webhooks over CONNECTIONS keep-alive connections."""

    def send(connection: int) -> list[int]:
        statuses = []
        with requests.Session() as session:
            for n in range(connection, count, CONNECTIONS):
                event = se.event("invoice.created", se.invoice(f"in_{prefix}{n}", status="draft"),
                                 100 + n, f"evt_{prefix}{n}")
                body = json.dumps(event).encode()
                answer = session.post(
                    f"{url}/stripe/webhook", data=body, timeout=30,
                    headers={"Stripe-Signature": signature_header(SECRET, int(time.time()), body),
                             "Content-Type": "application/json"},
                )
                statuses.append(answer.status_code)
        return statuses

    with ThreadPoolExecutor(CONNECTIONS) as pool:
        statuses = [s for batch in pool.map(send, range(CONNECTIONS)) for s in batch]
    assert statuses == [200] * count


def scrape(url: str) -> dict[str, list[tuple[dict[str, str], float]]]:
    """One /metrics answer (a fresh connection, so any process may answer): sample name ->
    [(labels, value)], every sample kept, so a doubled gauge would show."""
    answer = requests.get(f"{url}/metrics", timeout=30)
    assert answer.status_code == 200
    found: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            found.setdefault(sample.name, []).append((sample.labels, sample.value))
    return found


def assert_every_scrape_counts(url: str, received: int, rejected: int) -> None:
    for _ in range(SCRAPES):
        got = scrape(url)
        assert got["bridge_events_received_total"] == [({"type": "invoice.created"}, received)]
        assert got.get("bridge_webhooks_rejected_total", []) == (
            [({"reason": "bad_signature"}, rejected)] if rejected else []
        )
        # Read from the store by the answering process: once, not once per process.
        assert got["bridge_inbox_backlog"] == [({}, received)]
        assert got["bridge_store_up"] == [({}, 1.0)]


def reject_one(url: str) -> None:
    answer = requests.post(f"{url}/stripe/webhook", data=b"{}", timeout=30,
                           headers={"Stripe-Signature": "t=1,v1=00",
                                    "Content-Type": "application/json"})
    assert answer.status_code == 400


def replace_worker(master: int, worker: int) -> None:
    """Stop one worker process (SIGTERM, as gunicorn does) and wait for its replacement."""
    os.kill(worker, signal.SIGTERM)
    poll(lambda: worker not in children(master) and len(children(master)) == PROCESSES,
         "gunicorn replaces the stopped worker")


def test_every_scrape_counts_every_process_and_exited_ones(tmp_path, store_url):
    url, server = serve(tmp_path, store_url)
    with server as master:
        private = list(tmp_path.glob("caspio-stripe-metrics-*"))
        assert len(private) == 1 and private[0].is_dir()
        deliver(url, EVENTS, "a")
        reject_one(url)
        reject_one(url)
        assert_every_scrape_counts(url, EVENTS, 2)

        # Once both original processes have exited, the ones answering have counted nothing
        # themselves: every count comes from the files the exited processes left.
        for worker in sorted(children(master)):
            replace_worker(master, worker)
            assert_every_scrape_counts(url, EVENTS, 2)
        deliver(url, EVENTS, "b")
        assert_every_scrape_counts(url, 2 * EVENTS, 2)
    # The private folder goes with the server.
    assert list(tmp_path.glob("caspio-stripe-metrics-*")) == []


def test_the_deploy_config_sums_processes_too(tmp_path):
    """deploy/gunicorn.conf.py (Docker, systemd, Procfile) gets the hooks from
    connector.gunicorn_conf; here with an operator's PROMETHEUS_MULTIPROC_DIR, which is
    used, emptied of an earlier run's files, and left in place."""
    given = tmp_path / "operator-metrics"
    given.mkdir()
    (given / "counter_999999.db").write_bytes(b"an earlier run's file")
    env = serve_env(tmp_path, f"sqlite:///{tmp_path / 'bridge.db'}")
    env["PROMETHEUS_MULTIPROC_DIR"] = str(given)
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    command = [str(Path(sys.executable).parent / "gunicorn"), "-c",
               str(ROOT / "deploy" / "gunicorn.conf.py"), "--bind", f"127.0.0.1:{port}", APP]
    with launch(command, url, env, tmp_path) as master:
        assert not (given / "counter_999999.db").exists()
        deliver(url, EVENTS, "d")
        for worker in sorted(children(master)):
            replace_worker(master, worker)
        assert_every_scrape_counts(url, EVENTS, 0)
        assert list(tmp_path.glob("caspio-stripe-metrics-*")) == []
    assert given.is_dir()
