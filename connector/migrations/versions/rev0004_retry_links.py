"""Retry links and their rate-limit counters: `bridge_retry_links`, `bridge_rate_limits`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

Frozen once on main. Never edit it; add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bridge_retry_links",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("invoice_id", sa.String(255), nullable=False),
        sa.Column("attempt", sa.Integer, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
        sa.Column("used_at", sa.Float),
        sa.Column("reason", sa.Text),
    )
    op.create_index("ix_bridge_retry_links_invoice", "bridge_retry_links", ["invoice_id"])
    op.create_table(
        "bridge_rate_limits",
        sa.Column("bucket", sa.String(255), primary_key=True),
        sa.Column("window_start", sa.Float, nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
    )
    op.create_index("ix_bridge_rate_limits_window", "bridge_rate_limits", ["window_start"])


def downgrade() -> None:
    op.drop_table("bridge_rate_limits")
    op.drop_table("bridge_retry_links")
