"""Drop `bridge_schema_version`, the version table of the hand-written steps.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30

A store created before alembic is stamped 0001 or 0002 from that table when first opened
(`connector.migrations.upgrade`); from then on `bridge_alembic_version` is the record.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("DROP TABLE IF EXISTS bridge_schema_version")


def downgrade() -> None:
    # Give code from before alembic the record it reads, so a rolled-back bridge finds its
    # store complete (steps 1 and 2) and changes nothing.
    legacy = op.create_table(
        "bridge_schema_version",
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("applied_at", sa.Float, nullable=False),
    )
    now = time.time()
    op.bulk_insert(legacy, [{"version": 1, "applied_at": now}, {"version": 2, "applied_at": now}])
