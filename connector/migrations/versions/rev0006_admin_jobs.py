"""The admin API's background jobs, shared by every web process: `bridge_admin_jobs`.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

Before this revision each web process kept its jobs in memory; nothing to carry over.

Frozen once on main. Never edit it; add a revision.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bridge_admin_jobs",
        sa.Column("job_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("running_kind", sa.String(32)),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("heartbeat_at", sa.Float, nullable=False),
        sa.Column("finished_at", sa.Float),
        sa.Column("result_json", sa.Text),
        sa.Column("error", sa.Text),
    )
    # One running job per kind: finished jobs have running_kind NULL, which never collides.
    op.create_index(
        "ux_bridge_admin_jobs_running_kind", "bridge_admin_jobs", ["running_kind"], unique=True
    )


def downgrade() -> None:
    op.drop_table("bridge_admin_jobs")
