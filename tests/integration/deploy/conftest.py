from tests.fixtures.stores import postgres_store_url  # noqa: F401
