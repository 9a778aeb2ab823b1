"""Builds the Retry and portal link objects from the bridge's services, once per app."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from connector.links.portal_links import PortalLinks
from connector.links.rate_limits import RateLimiter
from connector.links.retry_flow import RetryFlow
from connector.links.retry_links import RetryLinks, RetryLinkStore
from connector.settings import Settings
from connector.store import Store
from connector.sync.context import SyncContext


@dataclass
class LinkServices:
    links: RetryLinkStore
    hook: RetryLinks
    portal: PortalLinks
    limiter: RateLimiter
    flow: RetryFlow
    context: Callable[[], SyncContext]


def build_retry_links(
    settings: Settings, store: Store, *, clock: Callable[[], float] = time.time
) -> RetryLinks:
    """The invoice handlers' hook (`Services.retry_links`, `SyncContext.retry_links`)."""
    links = RetryLinkStore(store, days=settings.bridge_link_days, clock=clock)
    portal = PortalLinks.from_settings(settings, clock=clock)
    return RetryLinks(links, settings.bridge_public_url, portal)


def build_link_services(services: Any, *, clock: Callable[[], float] = time.time) -> LinkServices:
    """From `Services` (`.settings`, `.store`, `.caspio`, `.stripe`, `.mapping`)."""
    from connector.sync.runtime import mapping_of, store_of
    from connector.sync.stripe_reader import GatewayStripeReader

    settings: Settings = services.settings
    store = store_of(services)
    hook = getattr(services, "retry_links", None)
    if not isinstance(hook, RetryLinks):
        hook = build_retry_links(settings, store, clock=clock)
    built: list[SyncContext] = []
    lock = threading.Lock()

    def context() -> SyncContext:
        # One context (writer, memories) for the web process, built on first use.
        with lock:
            if not built:
                built.append(
                    SyncContext.build(
                        store,
                        services.caspio,
                        mapping=mapping_of(services),
                        stripe=GatewayStripeReader(services.stripe.client),
                        past_due_access=settings.bridge_past_due_access,
                        retry_links=hook,
                        clock=clock,
                    )
                )
            return built[0]

    return LinkServices(
        links=hook.links,
        hook=hook,
        portal=hook.portal or PortalLinks.from_settings(settings, clock=clock),
        limiter=RateLimiter(store, clock=clock),
        flow=RetryFlow(hook.links, services.stripe, context),
        context=context,
    )
