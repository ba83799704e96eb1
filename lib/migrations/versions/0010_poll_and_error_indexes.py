"""Indexes for what is read often on a 100,000-item job: the worker's poll for batch work (open batch items,
cancelled ones still in a batch), which otherwise scans the online queue, and a job's latest errors (a partial
index of the items that have one)

Revision ID: 0010
Revises: 0009
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobitem", schema=None) as batch_op:
        batch_op.create_index("ix_item_mode_status", ["mode", "status", "stage"], unique=False)
        batch_op.create_index(
            "ix_item_job_errors",
            ["job_id", "id"],
            unique=False,
            sqlite_where=sa.text("error_message IS NOT NULL"),
            postgresql_where=sa.text("error_message IS NOT NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("jobitem", schema=None) as batch_op:
        batch_op.drop_index("ix_item_job_errors")
        batch_op.drop_index("ix_item_mode_status")
