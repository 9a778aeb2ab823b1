"""The first store: webhook inbox, Caspio write memory, subscriptions, object state, key cache.

Revision ID: 0001
Revises:
Create Date: 2026-11-30

Frozen: this is old step 1 (`bridge_schema_version` 1). Never edit it; add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bridge_inbox_events",
        sa.Column("event_id", sa.String(255), primary_key=True),
        sa.Column("type", sa.String(255), nullable=False),
        sa.Column("object_id", sa.String(255), nullable=False),
        sa.Column("object_type", sa.String(255), nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("received_at", sa.Float, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.Float, nullable=False),
        sa.Column("lease_owner", sa.String(255)),
        sa.Column("lease_expires_at", sa.Float),
        sa.Column("processed_at", sa.Float),
        sa.Column("last_error", sa.Text),
        sa.Column("last_traceback", sa.Text),
    )
    op.create_index("ix_bridge_inbox_claim", "bridge_inbox_events", ["status", "next_attempt_at"])
    op.create_index(
        "ix_bridge_inbox_object", "bridge_inbox_events", ["object_id", "created", "received_at"]
    )
    op.create_table(
        "bridge_caspio_rows",
        sa.Column("table_name", sa.String(64), primary_key=True),
        sa.Column("row_key", sa.String(255), primary_key=True),
        sa.Column("values_json", sa.Text, nullable=False),
        sa.Column("known_to_exist", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_table(
        "bridge_subscriptions",
        sa.Column("subscription_id", sa.String(255), primary_key=True),
        sa.Column("subscription_key", sa.String(255)),
        sa.Column("customer_key", sa.String(255)),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("amount_minor", sa.BigInteger, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.Column("interval", sa.String(8), nullable=False),
        sa.Column("interval_count", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_bridge_subscriptions_customer", "bridge_subscriptions", ["customer_key"])
    op.create_table(
        "bridge_object_state",
        sa.Column("object_id", sa.String(255), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("last_event_created", sa.BigInteger, nullable=False),
        sa.Column("state_json", sa.Text, nullable=False),
        sa.Column("parent_id", sa.String(255)),
        sa.Column("updated_at", sa.Float, nullable=False),
    )
    op.create_index("ix_bridge_object_state_parent", "bridge_object_state", ["parent_id"])
    op.create_table(
        "bridge_key_cache",
        sa.Column("kind", sa.String(32), primary_key=True),
        sa.Column("lookup", sa.String(255), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "bridge_key_cache",
        "bridge_object_state",
        "bridge_subscriptions",
        "bridge_caspio_rows",
        "bridge_inbox_events",
    ):
        op.drop_table(table)
