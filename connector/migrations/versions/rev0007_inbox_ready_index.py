"""An index that gives the inbox's ready events oldest first: `ix_bridge_inbox_ready`
(and `ix_bridge_inbox_claim` goes).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

Each claim asks for the oldest few events of one status (connector.sync.inbox). With only
(status, next_attempt_at) indexed, the database sorted every waiting event for each claim:
with a backlog of 20,000 events about 30 ms on SQLite and 60-100 ms on PostgreSQL, inside the
claim's write transaction. With (status, created, received_at, event_id) it reads the first
ones in order. The old index is dropped: nothing else uses it, and SQLite's planner, with no
statistics (nobody runs ANALYZE on the bridge's file), kept choosing it and sorting.

Frozen once on main. Never edit it; add a revision.
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_bridge_inbox_ready",
        "bridge_inbox_events",
        ["status", "created", "received_at", "event_id"],
    )
    op.drop_index("ix_bridge_inbox_claim", table_name="bridge_inbox_events")


def downgrade() -> None:
    op.create_index(
        "ix_bridge_inbox_claim", "bridge_inbox_events", ["status", "next_attempt_at"]
    )
    op.drop_index("ix_bridge_inbox_ready", table_name="bridge_inbox_events")
