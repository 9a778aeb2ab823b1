"""Two `caspio-stripe worker` processes on one store and a slow Caspio: no event runs twice
(issue #11, fault 1). With a 2 s lease and 0.3 s per Caspio call a batch of 16 events takes
about 5 s: without lease renewal the second process took events over mid-batch and both
wrote them (an insert, then the insert's conflict turned into an update)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from caspio_client import CaspioClient
from connector.caspio_setup import init_caspio
from connector.store import Store
from connector.sync.inbox import DONE, EventEnvelope, Inbox
from mappings import load_mapping
from tests.fixtures import stripe_events as se

EVENTS = 16
LATENCY = 0.3
LEASE = "2"


def start_worker(env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    command = [str(Path(sys.executable).parent / "caspio-stripe"), "worker", "--lease-seconds",
               LEASE]
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_worker_processes_never_run_one_event_twice(
    tmp_path, store_url, fresh_caspio_emulator
):
    emulator = fresh_caspio_emulator
    caspio = CaspioClient(emulator.base_url, emulator.client_id, emulator.client_secret)
    init_caspio(caspio, load_mapping(None))
    caspio.close()
    store = Store.from_url(store_url)
    inbox = Inbox(store)
    run = os.urandom(4).hex()  # ids of this run only: other runs may share the server
    ids = []
    for n in range(EVENTS):
        event = se.event("payout.paid", se.payout(f"po_{run}_{n}", status="paid"), 100 + n,
                         f"evt_{run}_{n}")
        inbox.record(EventEnvelope.parse(event), json.dumps(event), now=time.time(),
                     handled=True)
        ids.append(event["id"])
    emulator.controls.reset_calls()
    emulator.controls.set_faults(latency_seconds=LATENCY)
    env = {
        "PATH": os.environ.get("PATH", ""),
        "CASPIO_ACCOUNT_URL": emulator.base_url,
        "CASPIO_CLIENT_ID": emulator.client_id,
        "CASPIO_CLIENT_SECRET": emulator.client_secret,
        "STRIPE_SECRET_KEY": "sk_test_unused",
        "STRIPE_API_BASE": "http://127.0.0.1:9",
        "STRIPE_WEBHOOK_SECRET": "whsec_unused",
        "BRIDGE_PUBLIC_URL": "http://127.0.0.1:8000",
        "BRIDGE_DATABASE_URL": store_url,
    }
    workers = [start_worker(env, tmp_path), start_worker(env, tmp_path)]
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            rows = [inbox.get(i) for i in ids]
            if all(r["status"] == DONE for r in rows):
                break
            for worker in workers:
                assert worker.poll() is None, worker.stderr.read() if worker.stderr else ""
            time.sleep(0.2)  # polling a store another process writes; nothing to await
        else:
            pytest.fail(f"not all done: {[r['status'] for r in rows]}")
    finally:
        logs = []
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                _, err = worker.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                worker.kill()
                _, err = worker.communicate()
            logs.append(err)
        emulator.controls.set_faults(latency_seconds=0.0)
        store.dispose()

    # Each event was claimed once (a takeover would count a second attempt)…
    assert [r["attempts"] for r in rows] == [1] * EVENTS, logs
    # …and written once: one insert per payout, no conflict, no fallback update.
    calls = emulator.controls.calls()
    writes = {k: v for k, v in calls.items() if k[1] == "Billing_Payouts" and k[0] != "GET"}
    assert sum(writes.values()) == EVENTS, writes
    assert all(method == "POST" and status < 400 for method, _, status in writes), writes
