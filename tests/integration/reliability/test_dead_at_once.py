"""Against the Caspio emulator: a mapping naming a field Caspio does not have is dead after one
attempt, costing one failed Caspio write instead of ten (issue #11, fault 8)."""

from __future__ import annotations

import json

from caspio_client import CaspioClient
from connector.caspio_setup import init_caspio
from connector.sync.context import SyncContext
from connector.sync.dispatch import EventDispatcher
from connector.sync.inbox import DEAD, EventEnvelope, Inbox
from connector.sync.worker import Worker
from mappings import load_mapping
from tests.fixtures import stripe_events as se


def test_a_mapped_field_caspio_lacks_is_dead_at_once(tmp_path, store, fresh_caspio_emulator):
    emulator = fresh_caspio_emulator
    caspio = CaspioClient(emulator.base_url, emulator.client_id, emulator.client_secret)
    init_caspio(caspio, load_mapping(None))  # the tables as the default mapping makes them
    renamed = tmp_path / "mapping.yaml"
    renamed.write_text(
        "version: 1\ntables:\n  Billing_Payouts:\n    fields:\n      Amount: PayoutAmount\n"
    )
    mapping = load_mapping(str(renamed))  # names PayoutAmount, which Caspio does not have
    dispatcher = EventDispatcher(SyncContext.build(store, caspio, mapping=mapping))
    event = se.event("payout.paid", se.payout("po_1", status="paid"), 100, "evt_po")
    Inbox(store).record(EventEnvelope.parse(event), json.dumps(event), now=1.0, handled=True)
    caspio.meter.reset()

    worker = Worker(store, dispatcher, max_attempts=10, backoff=lambda n: 0.0)
    worker.run_until_idle()

    row = Inbox(store).get("evt_po")
    assert (row["status"], row["attempts"]) == (DEAD, 1)
    assert "PayoutAmount" in row["last_error"] and "not retryable" in row["last_error"]
    failed_calls = {k: v for k, v in caspio.meter.snapshot().items() if k[2] >= 400}
    assert sum(failed_calls.values()) == 1, failed_calls
    caspio.close()
