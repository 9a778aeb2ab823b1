"""Wiring the sync path from the lead's `Services`: store, context, worker, metrics.

`Services` needs `.settings`, `.caspio` (CaspioClient), `.stripe` (StripeGateway),
`.mapping` (None -> the default mapping) and `.store` (None -> opened from
BRIDGE_DATABASE_URL and migrated).
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from connector.store import Store
from connector.sync.context import SyncContext
from connector.sync.dispatch import EventDispatcher
from connector.sync.stripe_reader import GatewayStripeReader
from connector.sync.worker import BackgroundWorker, Worker

if TYPE_CHECKING:
    from connector.services import Services
    from mappings import Mapping

_opening = threading.Lock()


def store_of(services: Services) -> Store:
    """The services' store, opened (and migrated) on first use."""
    if services.store is None:
        with _opening:
            if services.store is None:
                services.store = Store.from_url(services.settings.bridge_database_url)
    return services.store


def mapping_of(services: Services) -> Mapping:
    if services.mapping is None:
        from mappings import load_mapping

        services.mapping = load_mapping(services.settings.bridge_mapping)
    return services.mapping


def build_dispatcher(services: Services) -> EventDispatcher:
    # Sign-up's schedules: imported here, as billing.provisioning builds on the sync path.
    from connector.billing.provisioning import ScheduleMaker
    from connector.sync.key_cache import KeyCache

    store = store_of(services)
    context = SyncContext.build(
        store,
        services.caspio,
        mapping=mapping_of(services),
        stripe=GatewayStripeReader(services.stripe.client),
        past_due_access=services.settings.bridge_past_due_access,
        retry_links=getattr(services, "retry_links", None),
        metrics=getattr(services, "metrics", None),
        schedules=ScheduleMaker(services.stripe, KeyCache(store)),
    )
    return EventDispatcher(context)


def build_worker(services: Services, **options: Any) -> Worker:
    options.setdefault("metrics", getattr(services, "metrics", None))
    return Worker(store_of(services), build_dispatcher(services), **options)


def start_background_worker(services: Services, **options: Any) -> BackgroundWorker:
    """The worker `serve` runs in a thread; call `.stop()` on shutdown. Registers the
    `worker` readiness check (thread alive, heartbeat recent) when the services have one."""
    from connector.readiness import worker_check

    idle_wait = options.pop("idle_wait", 1.0)
    handle = BackgroundWorker(build_worker(services, **options), idle_wait=idle_wait).start()
    readiness = getattr(services, "readiness", None)
    if readiness is not None:
        readiness.register("worker", worker_check(lambda: handle.alive, handle.worker.heartbeat))
    return handle
