"""The store's alembic revisions: from an empty database, from a store created before alembic
(its `bridge_schema_version` bookkeeping included), and with several processes at once."""

import json
import multiprocessing
import pathlib

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from connector import migrations
from connector.store import Store, create_store_engine, metadata
from tests.fixtures.legacy_store import create_legacy_store

HEAD = migrations.head_revision()


def schema_differences(store):
    """What alembic's autogenerate would still change to reach `connector.store.metadata`."""
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": migrations.VERSION_TABLE})
        return compare_metadata(context, metadata)


def tables(store):
    return set(sa.inspect(store.engine).get_table_names())


def test_an_empty_database_is_upgraded_to_the_declared_schema(store_url):
    store = Store.from_url(store_url)
    try:
        assert store.schema_revision() == HEAD
        assert schema_differences(store) == []
        assert "bridge_schema_version" not in tables(store)
        assert migrations.VERSION_TABLE in tables(store)
    finally:
        store.dispose()


def test_opening_an_upgraded_store_again_changes_nothing(store):
    assert store.migrate() == HEAD
    assert store.schema_revision() == HEAD
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text(f"SELECT version_num FROM {migrations.VERSION_TABLE}"))
        assert [row[0] for row in rows] == [HEAD]


def test_opening_without_migrate_leaves_the_database_untouched(store_url):
    store = Store.from_url(store_url, migrate=False)
    try:
        assert store.schema_revision() is None
        assert tables(store) == set()
    finally:
        store.dispose()


def _fill_legacy_store(url):
    engine = create_store_engine(url)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO bridge_inbox_events (event_id, type, object_id, object_type, created,"
                " received_at, payload, status, attempts, next_attempt_at, lock_key) VALUES"
                " ('evt_1', 'invoice.paid', 'in_1', 'invoice', 1700000000, 1.5, :payload,"
                " 'pending', 0, 1.5, 'cus_A')"
            ),
            {"payload": json.dumps({"id": "evt_1"})},
        )
        conn.execute(
            sa.text(
                "INSERT INTO bridge_key_leases (lock_key, owner, expires_at)"
                " VALUES ('cus_A', 'worker-1', 99.0)"
            )
        )
        conn.execute(
            sa.text(
                "INSERT INTO bridge_caspio_rows (table_name, row_key, values_json, known_to_exist,"
                " updated_at) VALUES ('Invoices', 'in_1', '{\"AmountPaid\": 1999}', :yes, 2.0)"
            ),
            {"yes": True},
        )
        conn.execute(
            sa.text(
                "INSERT INTO bridge_subscriptions (subscription_id, customer_key, status,"
                " amount_minor, currency, interval, interval_count, updated_at) VALUES"
                " ('sub_1', 'cus_A', 'active', 9223372036854775807, 'usd', 'month', 1, 3.0)"
            )
        )
    engine.dispose()


def test_a_store_created_before_alembic_is_adopted_and_upgraded_with_its_rows(store_url):
    create_legacy_store(store_url, version=2)
    _fill_legacy_store(store_url)

    store = Store.from_url(store_url)
    try:
        assert store.schema_revision() == HEAD
        assert schema_differences(store) == []
        assert "bridge_schema_version" not in tables(store)
        with store.engine.connect() as conn:
            inbox = conn.execute(sa.text("SELECT event_id, lock_key FROM bridge_inbox_events"))
            assert inbox.all() == [("evt_1", "cus_A")]
            leases = conn.execute(sa.text("SELECT lock_key, owner FROM bridge_key_leases"))
            assert leases.all() == [("cus_A", "worker-1")]
            rows = conn.execute(sa.text("SELECT values_json FROM bridge_caspio_rows"))
            assert rows.scalar_one() == '{"AmountPaid": 1999}'
            amount = conn.execute(sa.text("SELECT amount_minor FROM bridge_subscriptions"))
            assert amount.scalar_one() == 9223372036854775807
    finally:
        store.dispose()


def test_a_version_1_store_gets_key_leases_and_its_events_lock_on_their_object(store_url):
    create_legacy_store(store_url, version=1)
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        for n, obj in enumerate(["in_1", "ch_1"]):
            conn.execute(
                sa.text(
                    "INSERT INTO bridge_inbox_events (event_id, type, object_id, object_type,"
                    " created, received_at, payload, status, attempts, next_attempt_at) VALUES"
                    " (:id, 'invoice.paid', :obj, 'invoice', 100, 1.0, '{}', 'pending', 0, 1.0)"
                ),
                {"id": f"evt_{n}", "obj": obj},
            )
    engine.dispose()

    store = Store.from_url(store_url)
    try:
        assert schema_differences(store) == []
        with store.engine.connect() as conn:
            keys = conn.execute(
                sa.text("SELECT lock_key FROM bridge_inbox_events ORDER BY event_id")
            )
            assert keys.scalars().all() == ["in_1", "ch_1"]
    finally:
        store.dispose()


def test_an_unknown_legacy_version_is_refused_in_one_line(store_url):
    create_legacy_store(store_url, version=2)
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO bridge_schema_version VALUES (9, 1.0)"))
    engine.dispose()
    with pytest.raises(migrations.MigrationError, match="version 9"):
        Store.from_url(store_url)


def test_downgrading_to_before_alembic_leaves_what_the_old_code_reads(tmp_path):
    url = f"sqlite:///{tmp_path}/bridge.db"
    store = Store.from_url(url)
    config = migrations.alembic_config()
    try:
        with store.transaction() as conn:
            config.attributes["connection"] = conn
            command.downgrade(config, "0002")
        with store.engine.connect() as conn:
            versions = conn.execute(sa.text("SELECT version FROM bridge_schema_version"))
            assert sorted(versions.scalars()) == [1, 2]
        assert store.migrate() == HEAD
        assert schema_differences(store) == []
    finally:
        store.dispose()


def test_the_revisions_form_one_line_and_never_import_the_live_schema():
    script = migrations.script_directory()
    assert len(script.get_heads()) == 1
    chain = [rev.revision for rev in script.walk_revisions("base", "heads")]
    assert chain[-1] == "0001"
    for rev in script.walk_revisions():
        source = pathlib.Path(rev.path).read_text()
        # Frozen: a revision that imported connector.store would change meaning with it.
        assert "import connector" not in source and "from connector" not in source, rev.path


def _open_store(url, barrier, results):
    barrier.wait(timeout=30)
    try:
        store = Store.from_url(url)
        results.put(store.schema_revision())
        store.dispose()
    except Exception as exc:  # reported to the test, which fails with it
        results.put(f"{type(exc).__name__}: {exc}")


@pytest.mark.slow
@pytest.mark.parametrize("legacy", [False, True], ids=["empty", "pre-alembic"])
def test_several_processes_opening_one_new_store_at_once_all_start(store_url, legacy):
    """Like gunicorn workers starting together: each one upgrades, none fails.

    Without the PostgreSQL advisory lock two of them create the same table and one fails.
    """
    if legacy:
        if store_url.startswith("sqlite"):
            pytest.skip("SQLite: the empty case already shows BEGIN IMMEDIATE serialising")
        create_legacy_store(store_url, version=2)
    processes = 3
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(processes)
    results = spawn.Queue()
    workers = [
        spawn.Process(target=_open_store, args=(store_url, barrier, results))
        for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
    assert outcomes == [HEAD] * processes
    store = Store.from_url(store_url, migrate=False)
    try:
        assert schema_differences(store) == []
    finally:
        store.dispose()
