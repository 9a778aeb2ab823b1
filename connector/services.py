"""Builds the clients the bridge uses from its settings (no module globals)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from caspio_client import CaspioClient
from connector.settings import Settings
from connector.stripe_gateway import StripeGateway


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

    `store` and `mapping` are filled in by `build_services`; tests pass their own.
    """

    settings: Settings
    caspio: CaspioClient
    stripe: StripeGateway
    store: Any = None
    mapping: Any = None
    extra_metrics: list[Callable[[], dict[str, float]]] = field(default_factory=list)

    def metrics(self) -> dict[str, float]:
        """Flat Prometheus-style samples: `name{label="v"}` -> value."""
        samples: dict[str, float] = {}
        for (method, table, status), count in self.caspio.meter.snapshot().items():
            key = f'caspio_calls_total{{method="{method}",table="{table}",status="{status}"}}'
            samples[key] = count
        for (method, path, status), count in self.stripe.meter.snapshot().items():
            key = f'stripe_calls_total{{method="{method}",path="{path}",status="{status}"}}'
            samples[key] = count
        for source in self.extra_metrics:
            samples.update(source())
        return samples


def build_services(settings: Settings) -> Services:
    """Everything, opened eagerly so that a bad mapping or database stops start-up.

    Raises `mappings.MappingError` for a bad mapping file and SQLAlchemy's errors for a
    store that cannot be opened; commands turn both into one line.
    """
    from connector.store import Store
    from connector.sync.runtime import inbox_metrics
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
    services.extra_metrics.append(lambda: inbox_metrics(store))
    return services
