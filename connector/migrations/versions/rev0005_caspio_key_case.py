"""Keys of the bridge's Caspio memory as Caspio compares them (case, trailing spaces ignored).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

From this revision the code keys `bridge_caspio_rows.row_key`, the plan entries of
`bridge_key_cache` and `bridge_subscriptions.customer_key` by `caspio_key(text)` (issue 10
fault 8). Entries written before under another spelling are brought to it: row memories and
plan facts are dropped (they are a cache: the next write of such a row is a full write, the
next plan lookup one Caspio read), customer keys of subscription records are rewritten. The
normalisation is computed in Python, exactly as the code does it. Nothing to undo on
downgrade: older code reads normalised keys as keys like any other.

Frozen once on main. Never edit it; add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def _key(text: str) -> str:
    # connector.sync.caspio_keys.caspio_key, copied: a revision must not change with the code
    return text.rstrip(" ").lower()


def upgrade() -> None:
    conn = op.get_bind()
    rows = sa.table("bridge_caspio_rows", sa.column("table_name"), sa.column("row_key"))
    for table_name, row_key in conn.execute(sa.select(rows.c.table_name, rows.c.row_key)).all():
        if _key(row_key) != row_key:
            conn.execute(
                rows.delete().where(rows.c.table_name == table_name, rows.c.row_key == row_key)
            )
    cache = sa.table("bridge_key_cache", sa.column("kind"), sa.column("lookup"))
    plans = conn.execute(sa.select(cache.c.lookup).where(cache.c.kind == "plan")).scalars()
    for lookup in list(plans):
        if _key(lookup) != lookup:
            conn.execute(cache.delete().where(cache.c.kind == "plan", cache.c.lookup == lookup))
    records = sa.table(
        "bridge_subscriptions", sa.column("subscription_id"), sa.column("customer_key")
    )
    query = sa.select(records.c.subscription_id, records.c.customer_key).where(
        records.c.customer_key.is_not(None)
    )
    for subscription_id, customer_key in conn.execute(query).all():
        if _key(customer_key) != customer_key:
            conn.execute(
                records.update()
                .where(records.c.subscription_id == subscription_id)
                .values(customer_key=_key(customer_key))
            )


def downgrade() -> None:
    pass
