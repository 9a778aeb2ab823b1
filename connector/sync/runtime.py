"""Wiring the sync path from the lead's `Services`: store, context, worker, metrics.

`Services` needs `.settings`, `.caspio` (CaspioClient), `.stripe` (StripeGateway),
`.mapping` (None -> the default mapping) and `.store` (None -> opened from
BRIDGE_DATABASE_URL and migrated).
"""

from __future__ import annotations

import threading
from typing import Any

from connector.store import Store
from connector.sync.context import SyncContext
from connector.sync.dispatch import EventDispatcher
from connector.sync.inbox import Inbox
from connector.sync.stripe_reader import GatewayStripeReader
from connector.sync.worker import BackgroundWorker, Worker

_opening = threading.Lock()


def store_of(services: Any) -> Store:
    """The services' store, opened (and migrated) on first use."""
    if services.store is None:
        with _opening:
            if services.store is None:
                services.store = Store.from_url(services.settings.bridge_database_url)
    store: Store = services.store
    return store


def mapping_of(services: Any) -> Any:
    if services.mapping is None:
        from mappings import load_mapping

        services.mapping = load_mapping(services.settings.bridge_mapping)
    return services.mapping


def build_dispatcher(services: Any) -> EventDispatcher:
    context = SyncContext.build(
        store_of(services),
        services.caspio,
        mapping=mapping_of(services),
        stripe=GatewayStripeReader(services.stripe.client),
        past_due_access=services.settings.bridge_past_due_access,
        retry_links=getattr(services, "retry_links", None),
    )
    return EventDispatcher(context)


def build_worker(services: Any, **options: Any) -> Worker:
    return Worker(store_of(services), build_dispatcher(services), **options)


def start_background_worker(services: Any, **options: Any) -> BackgroundWorker:
    """The worker `serve` runs in a thread; call `.stop()` on shutdown."""
    idle_wait = options.pop("idle_wait", 1.0)
    handle = BackgroundWorker(build_worker(services, **options), idle_wait=idle_wait).start()
    return handle


def inbox_metrics(store: Store) -> dict[str, float]:
    """Prometheus-style samples: events in the inbox by type and status."""
    samples: dict[str, float] = {}
    for (event_type, status), count in sorted(Inbox(store).counts().items()):
        key = f'bridge_inbox_events{{type="{event_type}",status="{status}"}}'
        samples[key] = float(count)
    return samples


def worker_metrics(worker: Worker) -> dict[str, float]:
    samples = {
        "bridge_worker_events_processed_total": float(worker.processed),
        "bridge_worker_event_failures_total": float(worker.failed),
        "bridge_worker_events_dead_total": float(worker.dead),
    }
    dispatcher = worker.dispatcher
    if isinstance(dispatcher, EventDispatcher):
        for (event_type, outcome), count in sorted(dispatcher.outcomes.items()):
            key = f'bridge_events_handled_total{{type="{event_type}",outcome="{outcome}"}}'
            samples[key] = float(count)
        samples["bridge_caspio_writes_skipped_total"] = float(dispatcher.ctx.writer.skipped)
    return samples
