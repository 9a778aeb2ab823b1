"""The store's schema as alembic revisions (`versions/`), upgraded when a store is opened.

Revisions are frozen: each names its own tables and columns and never imports
`connector.store`, so a revision applied in 2026 still means the same thing later. The
bookkeeping table is `bridge_alembic_version`, prefixed like every bridge table so a
PostgreSQL database shared with another alembic project does not collide.

Stores created before alembic kept their version in `bridge_schema_version` (steps 1 and 2
of the old hand-written list); `upgrade` adopts such a store by stamping the matching
revision first, and revision 0003 then drops the old table.
"""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

VERSION_TABLE = "bridge_alembic_version"
LEGACY_VERSION_TABLE = "bridge_schema_version"
# The old hand-written steps and the revision that leaves a store in the same shape.
LEGACY_REVISIONS = {1: "0001", 2: "0002"}

_HERE = Path(__file__).resolve().parent


class MigrationError(RuntimeError):
    """The store's schema cannot be brought to the code's revision (message is one line)."""


def alembic_config() -> Config:
    """The alembic configuration of the bridge store (also used by `alembic -c` on the CLI)."""
    config = Config(str(_HERE / "alembic.ini"))
    config.set_main_option("script_location", str(_HERE))
    return config


@functools.lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    """The revision files, parsed once per process."""
    return ScriptDirectory.from_config(alembic_config())


def head_revision() -> str:
    """The revision the code expects; there must be exactly one head."""
    heads = script_directory().get_heads()
    if len(heads) != 1:
        raise MigrationError(f"the store's revisions have {len(heads)} heads: {sorted(heads)}")
    return heads[0]


def current_revision(conn: Connection) -> str | None:
    """The revision the store is at, None for a store alembic has not touched."""
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def upgrade(conn: Connection) -> str:
    """Bring the store on `conn` to the head revision inside the caller's transaction.

    The caller serialises concurrent callers (PostgreSQL: an advisory lock; SQLite: the
    write lock of BEGIN IMMEDIATE). Returns the head revision id. Raises `MigrationError`
    for a store whose old version number this code does not know.
    """
    head = head_revision()
    _adopt_legacy_store(conn)
    if current_revision(conn) == head:
        return head
    config = alembic_config()
    # env.py joins this open transaction: the upgrade and its version stamp commit (or roll
    # back) together, under the caller's lock.
    config.attributes["connection"] = conn
    command.upgrade(config, "head")
    return head


def _adopt_legacy_store(conn: Connection) -> None:
    inspector = sa.inspect(conn)
    if inspector.has_table(VERSION_TABLE) or not inspector.has_table(LEGACY_VERSION_TABLE):
        return
    version = conn.execute(sa.text(f"SELECT max(version) FROM {LEGACY_VERSION_TABLE}")).scalar()
    if version is None:
        return
    revision = LEGACY_REVISIONS.get(int(version))
    if revision is None:
        raise MigrationError(
            f"{LEGACY_VERSION_TABLE} says version {version}, which this code does not know"
        )
    MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE}).stamp(
        script_directory(), revision
    )
