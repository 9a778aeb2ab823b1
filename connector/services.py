"""Builds the clients the bridge uses from its settings (no module globals)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from caspio_client import CaspioClient
from connector.metrics import BridgeMetrics
from connector.readiness import Readiness, store_check
from connector.settings import Settings
from connector.store import Store
from connector.stripe_gateway import StripeGateway
from connector.stripe_versions import READINESS_CHECK
from connector.stripe_versions import readiness_check as version_check
from mappings import Mapping

if TYPE_CHECKING:
    from connector.links.retry_links import RetryLinks


def build_caspio_client(settings: Settings) -> CaspioClient:
    return CaspioClient(
        settings.caspio_account_url,
        settings.caspio_client_id,
        settings.caspio_client_secret.reveal(),
        api_version=settings.caspio_api_version,
    )


def build_stripe_gateway(settings: Settings) -> StripeGateway:
    return StripeGateway(
        settings.stripe_secret_key.reveal(),
        api_base=settings.stripe_api_base,
    )


@dataclass
class Services:
    """Everything a request or command needs, built once from the settings.

    `store` and `mapping` are filled in by `build_services`; tests pass their own. Left
    None, they are opened on first use (`connector.sync.runtime.store_of`, `mapping_of`).
    """

    settings: Settings
    caspio: CaspioClient
    stripe: StripeGateway
    store: Store | None = None
    mapping: Mapping | None = None
    #: Prometheus metrics of this app (its own registry); see docs/contracts.md.
    metrics: BridgeMetrics = field(default_factory=BridgeMetrics)
    #: Named checks behind /readyz; register more with `readiness.register(name, check)`.
    readiness: Readiness = field(default_factory=Readiness)
    #: The invoice handlers' Retry-link hook (connector.links.retry_links.RetryLinks).
    retry_links: RetryLinks | None = None

    def __post_init__(self) -> None:
        self.metrics.watch_calls("caspio", self.caspio.meter)
        self.metrics.watch_calls("stripe", self.stripe.meter)
        self.metrics.watch_inbox(self._store)
        policy = getattr(self.caspio, "retry_policy", None)
        if policy is not None:
            policy.on_retry.append(self._count_caspio_retry)
        self.readiness.register(
            "store", store_check(self._store, self.settings.bridge_ready_max_backlog)
        )
        self.readiness.register(READINESS_CHECK, version_check(self._store))

    def _count_caspio_retry(self, error: BaseException, wait_seconds: float) -> None:
        status = getattr(error, "status", 0)
        self.metrics.api_retry("caspio", type(error).__name__)
        if status == 429:
            self.metrics.rate_limit_wait("caspio", wait_seconds)

    def _store(self) -> Store:
        from connector.sync.runtime import store_of

        return store_of(self)


def build_services(settings: Settings) -> Services:
    """Everything, opened eagerly so that a bad mapping or database stops start-up.

    Raises `mappings.MappingError` for a bad mapping file and SQLAlchemy's errors for a
    store that cannot be opened; commands turn both into one line.
    """
    from connector.links.wiring import build_retry_links
    from mappings import load_mapping

    mapping = load_mapping(settings.bridge_mapping)
    store = Store.from_url(settings.bridge_database_url)
    services = Services(
        settings=settings,
        caspio=build_caspio_client(settings),
        stripe=build_stripe_gateway(settings),
        store=store,
        mapping=mapping,
    )
    services.retry_links = build_retry_links(settings, store)
    return services
