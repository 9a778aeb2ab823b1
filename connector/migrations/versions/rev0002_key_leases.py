"""Per-customer key leases: `bridge_inbox_events.lock_key` and `bridge_key_leases`.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30

Frozen: this is old step 2 (`bridge_schema_version` 2). Never edit it; add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("bridge_inbox_events", sa.Column("lock_key", sa.String(255)))
    # Events received before leases existed lock on their own object.
    inbox = sa.table("bridge_inbox_events", sa.column("lock_key"), sa.column("object_id"))
    op.execute(inbox.update().where(inbox.c.lock_key.is_(None)).values(lock_key=inbox.c.object_id))
    op.create_index("ix_bridge_inbox_lock_key", "bridge_inbox_events", ["lock_key"])
    op.create_table(
        "bridge_key_leases",
        sa.Column("lock_key", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("bridge_key_leases")
    op.drop_index("ix_bridge_inbox_lock_key", table_name="bridge_inbox_events")
    with op.batch_alter_table("bridge_inbox_events") as batch:
        batch.drop_column("lock_key")
