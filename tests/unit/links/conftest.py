from __future__ import annotations

from collections.abc import Iterator

import pytest

from connector.store import Store
from tests.fixtures.stores import postgres_store_url, store, store_url  # noqa: F401


@pytest.fixture
def link_store(store: Store) -> Iterator[Store]:  # noqa: F811
    """The store, upgraded to the head revision (which creates the Retry tables)."""
    yield store
