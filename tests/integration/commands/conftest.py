from tests.fixtures.stores import postgres_store_url, store, store_url  # noqa: F401
